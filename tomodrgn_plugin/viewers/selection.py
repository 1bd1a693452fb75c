"""Selections made in the latent viewer (k-means classes, or a lasso region of the PCA/UMAP scatter) -> the particle
rows they hold, from analyze's particles.csv (plain CSV: no core needed). Headless, so tests drive it directly."""
import numpy as np

from ..convert import read_csv_columns

PLANES = {"PCA": ("PC1", "PC2"), "UMAP": ("UMAP1", "UMAP2")}


def rows_in_classes(particles_csv: str, classes) -> list:
    """STAR rows (analyze's 'index') of the particles in the given k-means classes (1-based, as shown)."""
    t = read_csv_columns(particles_csv)
    wanted = {int(c) - 1 for c in classes}
    return sorted(int(i) for i, k in zip(t["index"], t["cluster"]) if int(k) in wanted)


def rows_in_region(particles_csv: str, polygon, plane: str = "PCA") -> list:
    """STAR rows of the particles whose point in the PCA (PC1, PC2) or UMAP plane lies inside ``polygon``
    (the lasso's vertices, data coordinates)."""
    from matplotlib.path import Path
    t = read_csv_columns(particles_csv)
    x, y = PLANES[plane]
    if x not in t or y not in t:
        raise ValueError(f"{particles_csv} has no {plane} coordinates ({x}, {y}): run analyze with them")
    inside = Path(np.asarray(polygon, float)).contains_points(np.column_stack([t[x], t[y]]))
    return sorted(int(i) for i in t["index"][inside])
