"""Where do the classes sit in their tomograms? Composition per tomogram, nearest-neighbour distances, and whether
a class is spatially clustered compared with the same labels shuffled among the same positions.

Positions are the particles' tomogram coordinates in A (chimerax.placements: RELION 5's refined centres,
Warp's coordinate columns); distances are measured within a tomogram only.
Clustering test, per class: the statistic is the median distance from a class member to the nearest other member
of its class (nn_same_class_A). The null model shuffles the labels among the particles of each tomogram (positions
and each tomogram's class counts kept), ``n_shuffles`` times. p_clustered = (1 + #shuffles with a median <= the
observed) / (1 + n_shuffles); p_spread likewise with >=. A class is "clustered" (or "spread out") when its p is
below 0.05 / number of classes (Bonferroni), else "as shuffled". Both are relative to the other classes' positions:
when one class sits in clusters, a uniformly placed class is "spread out" by comparison (shuffling moves some of
its labels into the clusters), not by itself.

Layout of ``out``: neighbours.csv (one row per particle, STAR order: particle, particle_id, tomogram, label, x_A,
y_A, z_A, nn_distance_A, nn_same_class_A, nn_other_class_A; empty where a tomogram holds no such particle),
composition.csv/.png, clustering.csv, nn_between_classes.csv/.png (median distance from a class's particles to the
nearest particle of each class), nn_same_class.png (observed vs shuffled, per class), nn_distance.png, summary.json.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .rundir import write_json

ALPHA = 0.05


def nearest_by_class(xyz: np.ndarray, tomo: np.ndarray, codes: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, n_classes): distance from each particle to the nearest OTHER particle of class c in its own tomogram
    (NaN when there is none). One KD-tree per tomogram and class; every particle is queried at once."""
    from scipy.spatial import cKDTree

    n = len(xyz)
    out = np.full((n, n_classes), np.nan)
    for t in np.unique(tomo):
        in_t = np.flatnonzero(tomo == t)
        for c in range(n_classes):
            members = in_t[codes[in_t] == c]
            if not len(members):
                continue
            k = min(2, len(members))
            d, i = cKDTree(xyz[members]).query(xyz[in_t], k=k)
            d, i = d.reshape(len(in_t), k), i.reshape(len(in_t), k)
            # the particle itself is its own nearest member: take the next one (by index: duplicates at one
            # position are distinct particles at distance 0)
            own = np.where(i[:, 0] < len(members), members[np.minimum(i[:, 0], len(members) - 1)], -1) == in_t
            pick = np.where(own, d[:, 1] if k == 2 else np.inf, d[:, 0])
            out[in_t, c] = np.where(np.isfinite(pick), pick, np.nan)
    return out


def neighbour_distances(xyz, tomo, codes, n_classes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(by_class (n, k), nn any class, nn same class, nn other class), NaN where there is no such neighbour."""
    by_class = nearest_by_class(xyz, tomo, codes, n_classes)
    rows = np.arange(len(codes))
    same = by_class[rows, codes]
    other = by_class.copy()
    other[rows, codes] = np.nan
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (a lone particle) stay NaN
            any_ = np.nanmin(by_class, axis=1)
            other_min = np.nanmin(other, axis=1)
    return by_class, any_, same, other_min


def class_medians(same: np.ndarray, codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Median nn_same_class per class (NaN where no member has a same-class neighbour)."""
    out = np.full(n_classes, np.nan)
    for c in range(n_classes):
        v = same[(codes == c) & np.isfinite(same)]
        out[c] = np.median(v) if len(v) else np.nan
    return out


def shuffled_medians(xyz, tomo, codes, n_classes, n_shuffles: int, seed: int = 0, keep: int = 20):
    """(null medians (n_shuffles, k), pooled same-class distances of the first ``keep`` shuffles per class):
    labels permuted within each tomogram."""
    rng = np.random.default_rng(seed)
    base = np.argsort(tomo, kind="stable")
    null = np.empty((n_shuffles, n_classes))
    pooled = [[] for _ in range(n_classes)]
    for s in range(n_shuffles):
        perm = np.lexsort((rng.random(len(codes)), tomo))  # a random order inside each tomogram's block
        shuffled = np.empty_like(codes)
        shuffled[base] = codes[perm]
        same = nearest_by_class(xyz, tomo, shuffled, n_classes)[np.arange(len(codes)), shuffled]
        null[s] = class_medians(same, shuffled, n_classes)
        if s < keep:
            for c in range(n_classes):
                pooled[c].append(same[shuffled == c])
    return null, [np.concatenate(p) if p else np.zeros(0) for p in pooled]


def spatial_stats(place: pd.DataFrame, labels: np.ndarray, out_dir, n_shuffles: int = 500, seed: int = 0,
                  log=print) -> dict:
    """``place``: one row per particle (chimerax.placements: particle, particle_id, tomo_id, x, y, z in A);
    ``labels``: one class per row. Writes the files of this module's docstring; returns the summary."""
    from . import plots
    from .palette import class_hex

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = np.asarray(labels, np.int64)
    classes, codes = np.unique(labels, return_inverse=True)
    k = len(classes)
    tomo_names, tomo = np.unique(place["tomo_id"].astype(str).to_numpy(), return_inverse=True)
    xyz = place[["x", "y", "z"]].to_numpy(np.float64)

    by_class, nn_any, nn_same, nn_other = neighbour_distances(xyz, tomo, codes, k)
    pd.DataFrame({"particle": place["particle"].to_numpy(), "particle_id": place["particle_id"].to_numpy(),
                  "tomogram": tomo_names[tomo], "label": labels, "x_A": xyz[:, 0], "y_A": xyz[:, 1],
                  "z_A": xyz[:, 2], "nn_distance_A": nn_any, "nn_same_class_A": nn_same,
                  "nn_other_class_A": nn_other}).to_csv(out / "neighbours.csv", index=False, float_format="%.6g",
                                                        na_rep="")
    counts = np.zeros((len(tomo_names), k), np.int64)
    np.add.at(counts, (tomo, codes), 1)
    comp = pd.DataFrame(counts, columns=[f"class_{c}" for c in classes])
    comp.insert(0, "tomogram", tomo_names)
    comp["total"] = counts.sum(1)
    for j, c in enumerate(classes):
        comp[f"fraction_{c}"] = counts[:, j] / counts.sum(1)
    comp.to_csv(out / "composition.csv", index=False, float_format="%.4g")
    plots.stacked_bars(counts, tomo_names, classes, out / "composition.png", xlabel="tomogram",
                       ylabel="particles", title="class composition per tomogram")

    between = np.array([[np.nanmedian(by_class[codes == a, b]) if np.isfinite(by_class[codes == a, b]).any()
                         else np.nan for b in range(k)] for a in range(k)])
    pd.DataFrame(between, index=pd.Index(classes, name="from_class"),
                 columns=[f"to_class_{c}" for c in classes]).to_csv(out / "nn_between_classes.csv",
                                                                    float_format="%.6g", na_rep="")
    plots.heatmap(between, classes, classes, out / "nn_between_classes.png", "nearest particle of class",
                  "from a particle of class", "median nearest-neighbour distance (Å)")

    observed = class_medians(nn_same, codes, k)
    log(f"shuffling labels within tomograms {n_shuffles} times")
    null, pooled = shuffled_medians(xyz, tomo, codes, k, n_shuffles, seed)
    alpha = ALPHA / k
    rows = []
    for c in range(k):
        col = null[:, c][np.isfinite(null[:, c])]
        row = {"class": int(classes[c]), "n": int((codes == c).sum()), "median_nn_same_class_A": observed[c]}
        if np.isfinite(observed[c]) and len(col):
            p_c = (1 + np.sum(col <= observed[c])) / (1 + len(col))
            p_s = (1 + np.sum(col >= observed[c])) / (1 + len(col))
            verdict = "clustered" if p_c < alpha else "spread out" if p_s < alpha else "as shuffled"
            row.update({"shuffled_median_A": float(np.mean(col)), "shuffled_2.5pct_A": float(np.percentile(col, 2.5)),
                        "shuffled_97.5pct_A": float(np.percentile(col, 97.5)),
                        "ratio_to_shuffled": float(observed[c] / np.mean(col)), "p_clustered": float(p_c),
                        "p_spread": float(p_s), "verdict": verdict})
        else:
            row.update({"verdict": "too few particles (fewer than 2 per tomogram)"})
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(out / "clustering.csv", index=False, float_format="%.4g", na_rep="")

    panels = [(f"class {classes[c]}: {rows[c]['verdict']}", nn_same[codes == c], pooled[c],
               class_hex(c, k)) for c in range(k)]
    plots.observed_vs_shuffled(panels, out / "nn_same_class.png", "distance to the nearest particle of the same "
                               "class (Å)")
    plots.overlaid_histograms({f"class {classes[c]}": nn_any[codes == c] for c in range(k)}, out / "nn_distance.png",
                              xlabel="distance to the nearest particle, any class (Å)",
                              title="nearest-neighbour distances per class",
                              colors={f"class {classes[c]}": class_hex(c, k) for c in range(k)})
    summary = {"n_particles": int(len(labels)), "n_tomograms": int(len(tomo_names)), "classes": classes.tolist(),
               "n_shuffles": int(n_shuffles), "seed": seed, "alpha_per_class": alpha,
               "composition": {str(t): {str(c): int(v) for c, v in zip(classes, row)} for t, row in
                               zip(tomo_names, counts)},
               "clustering": json.loads(table.to_json(orient="records")),
               "nn_between_classes_median_A": {str(a): {str(b): (None if not np.isfinite(v) else float(v))
                                                        for b, v in zip(classes, r)} for a, r in zip(classes, between)}}
    write_json(out / "summary.json", summary)
    return summary
