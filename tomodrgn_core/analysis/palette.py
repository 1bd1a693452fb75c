"""Class colours every figure and the ChimeraX map-back share: colour-blind safe where that is possible.

Up to 8 classes: Okabe & Ito's palette (Color Universal Design, 2008; distinguishable with every common colour
vision deficiency), with grey for its black (ChimeraX's background is black). More classes: no palette keeps 9-20 hues apart for colour-blind readers, so
Paul Tol's 'muted' (9) + grey cycle is used and the figures also label classes by number.
"""
from __future__ import annotations

import numpy as np

OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999"]
TOL_MUTED = ["#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99", "#999933", "#AA4499",
             "#DDDDDD"]


def class_hex(k: int, n_classes: int) -> str:
    """Hex colour of class ``k`` (0-based) among ``n_classes``."""
    pal = OKABE_ITO if n_classes <= len(OKABE_ITO) else TOL_MUTED
    return pal[int(k) % len(pal)]


def class_rgba(labels, n_classes: int | None = None) -> np.ndarray:
    """(n, 4) RGBA per label, for matplotlib's ``c=``/``color=``."""
    from matplotlib.colors import to_rgba

    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    n_classes = n_classes if n_classes is not None else (int(labels.max()) + 1 if len(labels) else 1)
    table = np.array([to_rgba(class_hex(k, n_classes)) for k in range(max(n_classes, 1))])
    return table[np.clip(labels, 0, len(table) - 1)] if len(labels) else np.zeros((0, 4))


# lines that are not classes (FSC curves, criteria): distinguishable in grey scale too (with line styles)
LINE_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
LINE_STYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1))]
