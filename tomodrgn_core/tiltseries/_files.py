"""Plain-file inputs of ``tomodrgn extract_particles``: IMOD .tlt/.xf, per-tilt text columns, coordinates."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import TomoDrgnInputError


def read_columns(path, ncols: int | tuple, what: str, fix: str) -> np.ndarray:
    """Whitespace-separated numbers, '#' comments -> (n, k) float array; a bad row raises naming it."""
    rows = []
    allowed = (ncols,) if isinstance(ncols, int) else tuple(ncols)
    for i, line in enumerate(Path(path).read_text().splitlines()):
        line = line.split("#")[0].strip()
        if not line:
            continue
        try:
            vals = [float(v) for v in line.replace(",", " ").split()]
        except ValueError:
            vals = None
        if vals is None or len(vals) not in allowed or (rows and len(vals) != len(rows[0])):
            raise TomoDrgnInputError(f"{what}: expected {' or '.join(map(str, allowed))} numbers per line, got "
                                     f"'{line}'", path=path, row=i + 1, fix=fix)
        rows.append(vals)
    if not rows:
        raise TomoDrgnInputError(f"{what}: no values", path=path, fix=fix)
    return np.array(rows, float)


def read_xf(path) -> np.ndarray:
    """IMOD .xf (a11 a12 a21 a22 dx dy per tilt, raw -> aligned) -> (nt, 3, 3)."""
    v = read_columns(path, 6, "IMOD transform", "give one 'a11 a12 a21 a22 dx dy' line per tilt image (.xf)")
    m = np.zeros((len(v), 3, 3))
    m[:, 0, :2], m[:, 1, :2], m[:, :2, 2], m[:, 2, 2] = v[:, 0:2], v[:, 2:4], v[:, 4:6], 1.0
    return m


def check_length(values: np.ndarray, n: int, path, what: str) -> np.ndarray:
    if len(values) != n:
        raise TomoDrgnInputError(f"{what} has {len(values)} rows but the tilt stack has {n} images", path=path,
                                 fix="give one line per image of the tilt stack, in stack order")
    return values
