"""The ``analyze`` workflow on a latent array: PCA, UMAP, clusters, volumes, plots, tables.

Layout of ``out_dir`` (= TRAINDIR/analyze.{epoch}, as the reference tomoDRGN):
  z_pca.png z_pca_hexbin.png z_pca_explained_variance.png pca_explained_variance.csv (PC, ratio, cumulative)
  [k_selection.csv k_selection.json k_selection.png]  (--ksample auto: the scores per k, the chosen K and why)
  [umap.pkl umap.png umap_hexbin.png] loss.png
  particles.csv (index, star_row, z0.., PC1, PC2, UMAP1, UMAP2, cluster[, gmm_cluster]) summary.json
    index: row of the z file (0..n-1); star_row: 0-based particle of the trained STAR (differs from index
    for runs trained with --ind, whose run folder holds particle_rows.txt)
  pc{i}/z_values.txt pc_values.txt vol_{j:03d}.mrc
  kmeans{K}/labels.pkl centers.txt centers_ind.txt vol_{i:03d}.mrc z_pca.png umap.png cluster_sizes.png ...
  gmm{K}/   (the same, with --gmm)
  with ground truth: kmeans{K}/ground_truth.json confusion_matrix.csv/.png (and gmm{K}/)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import TomoDrgnInputError
from . import plots
from .kselect import check_k_range, select_k, write_k_selection
from .latent import Clusters, cluster_gmm, cluster_kmeans, run_pca, run_umap
from .metrics import adjusted_rand_index, confusion_matrix
from .rundir import write_pickle
from .trajectories import check_pcs, pc_traversal
from .volumes import VolumeMaker

# written by train_vae/train_nn --ind: the trained STAR's 0-based particle row of each z row, one per line
PARTICLE_ROWS = "particle_rows.txt"
AUTO = "auto"  # --ksample auto: choose the number of clusters (analysis/kselect.py)


def read_particle_rows(workdir, n: int) -> np.ndarray | None:
    """The STAR particle row of each of the ``n`` z rows of a run (None: no particle_rows.txt, trained on the
    whole STAR, so z row i is particle i). A file that cannot be such a map is an error, not a guess."""
    path = Path(workdir) / PARTICLE_ROWS
    if not path.is_file():
        return None
    fix = f"restore {PARTICLE_ROWS} of this run (one 0-based STAR row per z row), or retrain"
    try:
        rows = np.loadtxt(path, ndmin=1, dtype=np.float64)
    except ValueError as err:
        raise TomoDrgnInputError(f"unreadable particle row list ({str(err).splitlines()[0][:80]})", path=path,
                                 fix=fix) from None
    if rows.ndim != 1 or len(rows) != n:
        raise TomoDrgnInputError(f"{rows.size} particle rows for {n} rows of z", path=path, fix=fix)
    bad = ~np.isfinite(rows) | (rows != np.round(rows)) | (rows < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TomoDrgnInputError(f"particle row '{rows[i]:g}' is not a 0-based row number", path=path, row=i + 1,
                                 fix=fix)
    rows = rows.astype(np.int64)
    if len(np.unique(rows)) < n:
        raise TomoDrgnInputError("particle rows repeat: each z row must map to its own STAR particle", path=path,
                                 fix=fix)
    return rows


def _ground_truth_outputs(cl: Clusters, truth: np.ndarray, folder: Path) -> dict:
    """ARI and confusion matrix (rows: true classes, columns: clusters) against known labels."""
    cm = confusion_matrix(truth, cl.labels)
    classes = np.union1d(np.unique(truth), np.unique(cl.labels))
    np.savetxt(folder / "confusion_matrix.csv", cm, fmt="%d", delimiter=",",
               header="rows: true classes, columns: clusters; labels " + " ".join(map(str, classes)))
    plots.confusion(cm, classes, folder / "confusion_matrix.png", f"{cl.method} vs ground truth")
    res = {"ari": adjusted_rand_index(truth, cl.labels), "labels": classes.tolist(), "confusion_matrix": cm.tolist()}
    (folder / "ground_truth.json").write_text(json.dumps(res, indent=1))
    return res


def _cluster_outputs(cl: Clusters, folder: Path, pcs: np.ndarray, ratio: np.ndarray, emb: np.ndarray | None,
                     maker: VolumeMaker | None, log, truth: np.ndarray | None = None) -> dict | None:
    folder.mkdir(parents=True, exist_ok=True)
    write_pickle(folder / "labels.pkl", cl.labels)
    np.savetxt(folder / "centers.txt", cl.centers)
    np.savetxt(folder / "centers_ind.txt", cl.centers_ind, fmt="%d")
    plots.bars(cl.sizes, folder / "cluster_sizes.png", xlabel="cluster", ylabel="particles",
               title=f"{cl.method}: {len(cl.centers)} clusters")
    two = pcs[:, :2]
    xlab, ylab = plots.pc_labels(ratio)
    plots.scatter(two, folder / "z_pca.png", cl.labels, two[cl.centers_ind], xlab, ylab, f"{cl.method} on PCA")
    plots.hexbin(two, folder / "z_pca_hexbin.png", xlab, ylab, "particle density")
    if emb is not None:
        plots.scatter(emb, folder / "umap.png", cl.labels, emb[cl.centers_ind], "UMAP1", "UMAP2", f"{cl.method} on UMAP")
        plots.hexbin(emb, folder / "umap_hexbin.png", "UMAP1", "UMAP2", "particle density")
    if maker is not None:
        paths = maker.write(cl.centers, folder)
        log(f"{folder.name}: {len(paths)} volumes at {maker.pixel_size:.4g} A/px")
    if truth is not None:
        res = _ground_truth_outputs(cl, truth, folder)
        log(f"{folder.name}: adjusted Rand index vs ground truth {res['ari']:.3f}")
        return res
    return None


def check_analyze_args(z: np.ndarray, ksample: int, n_pcs: int | None = None, z_path=None) -> int:
    """Fail before any work when --ksample or --pc cannot be honoured; returns the number of PCs to traverse
    (``n_pcs`` None: 2, or fewer when the latent space has fewer)."""
    n, zdim = z.shape
    if ksample < 1:
        raise TomoDrgnInputError(f"--ksample {ksample}: at least one cluster is needed", path=z_path,
                                 fix="e.g. --ksample 20")
    # k-means cannot make more clusters than distinct points; an error, not a quiet clamp: K is the
    # result the user asked for, and kmeans{K}/ is where they (and the Scipion protocol) look for it
    rows = np.ascontiguousarray(z).view(np.dtype((np.void, z.dtype.itemsize * zdim))).ravel()
    distinct = n if ksample <= 1 else len(np.unique(rows))
    if ksample > distinct:
        what = f"{n} particles" + (f" ({distinct} distinct latent points)" if distinct < n else "")
        raise TomoDrgnInputError(f"--ksample {ksample}: more clusters than {what}", path=z_path,
                                 fix=f"--ksample 1..{distinct}")
    if n_pcs is None:
        return min(2, n, zdim)
    if n_pcs:  # 0: no PC traversal
        check_pcs((n, zdim), [n_pcs], z_path, "--pc")
    return n_pcs


def write_explained_variance(ratio, path) -> Path:
    """pca_explained_variance.csv: PC, explained variance ratio, cumulative ratio (for viewers and tables)."""
    ratio = np.asarray(ratio, dtype=float)
    table = np.column_stack([np.arange(1, len(ratio) + 1), ratio, np.cumsum(ratio)])
    np.savetxt(path, table, fmt=["%d", "%.6f", "%.6f"], delimiter=",", header="PC,explained_variance_ratio,cumulative",
               comments="")
    return Path(path)


def analyze_latent(z: np.ndarray, out_dir, ksample: int | str = 20, maker: VolumeMaker | None = None,
                   skip_umap: bool = False, gmm: bool = False, n_pcs: int | None = None, n_per_pc: int = 10,
                   pc_lim=(5.0, 95.0), losses: dict | None = None, seed: int = 0, log=print,
                   truth: np.ndarray | None = None, z_path=None, star_rows: np.ndarray | None = None,
                   k_range=None, logvar: np.ndarray | None = None) -> dict:
    """Write every analysis output for latent means ``z`` (N, zdim); volumes only when ``maker`` is given;
    ARI / confusion matrix per clustering when ground-truth labels ``truth`` (N,) are given.
    ``ksample`` "auto": the number of clusters is chosen first (analysis/kselect.py, over ``k_range``, default
    2..12; the user's range is checked, the default one shrinks for tiny sets; ``logvar``: the encoder's posterior
    log-variances, for the resolution check), then kmeans{K}/ as for a given K.
    ``star_rows`` (N,): the trained STAR's particle row of each z row (read_particle_rows; None: identity),
    written as particles.csv's star_row, the column to select STAR particles by.
    ``z_path`` (the z file) is only named in errors. Returns a summary dict (also written as summary.json)."""
    z = np.asarray(z, dtype=np.float32)
    n, zdim = z.shape
    auto = ksample == AUTO
    if auto:
        check_k_range(k_range, n, k_range is not None, z_path)
    n_pcs = check_analyze_args(z, 1 if auto else ksample, n_pcs, z_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    k_sel = None
    if auto:
        sel = select_k(z, k_range, seed, explicit=k_range is not None, where=z_path,
                       logvar=logvar if logvar is not None and np.shape(logvar) == z.shape else None)
        k_sel = write_k_selection(sel, out)
        ksample = sel.k
        log(f"automatic k: {sel.reason}")
    pca = run_pca(z)
    pcs = pca.coords
    ratio = pca.explained_variance_ratio
    write_explained_variance(ratio, out / "pca_explained_variance.csv")
    plots.bars(100 * ratio, out / "z_pca_explained_variance.png", xlabel="PC",
               ylabel="explained variance (%)", labels=np.arange(1, len(pcs[0]) + 1), title="PCA of z")
    two = pcs[:, :2]
    xlab, ylab = plots.pc_labels(ratio)
    plots.scatter(two, out / "z_pca.png", xlabel=xlab, ylabel=ylab, title=f"PCA of z ({n} particles)")
    plots.hexbin(two, out / "z_pca_hexbin.png", xlab, ylab, "particle density")
    emb = None
    if not skip_umap and zdim > 1 and n > 3:
        emb, _ = run_umap(z, seed=seed)
        write_pickle(out / "umap.pkl", emb)
        plots.scatter(emb, out / "umap.png", xlabel="UMAP1", ylabel="UMAP2", title="UMAP of z")
        plots.hexbin(emb, out / "umap_hexbin.png", "UMAP1", "UMAP2", "particle density")
    elif not skip_umap:
        log("UMAP skipped: it needs zdim > 1 and more than 3 particles")
    if losses is not None:
        plots.loss_curve(losses, out / "loss.png")

    km = cluster_kmeans(z, ksample, seed=seed)
    gt = {"kmeans": _cluster_outputs(km, out / f"kmeans{ksample}", pcs, ratio, emb, maker, log, truth)}
    gm = None
    if gmm:
        gm = cluster_gmm(z, ksample, seed=seed)
        gt["gmm"] = _cluster_outputs(gm, out / f"gmm{ksample}", pcs, ratio, emb, maker, log, truth)

    for dim in range(1, n_pcs + 1):
        zs, vals = pc_traversal(pca, dim, n_per_pc, pc_lim)
        folder = out / f"pc{dim}"
        folder.mkdir(exist_ok=True)
        np.savetxt(folder / "z_values.txt", zs)
        np.savetxt(folder / "pc_values.txt", vals)
        if maker is not None:
            maker.write(zs, folder)

    subset = star_rows is not None
    if subset and len(star_rows) != n:
        raise ValueError(f"{len(star_rows)} star rows for {n} particles")
    star_rows = np.arange(n) if star_rows is None else np.asarray(star_rows, dtype=np.int64)
    _write_table(out / "particles.csv", z, pcs, emb, km.labels, None if gm is None else gm.labels, star_rows)
    summary = {"n_particles": int(n), "zdim": int(zdim), "ksample": int(len(km.centers)),
               "explained_variance_ratio": [float(v) for v in pca.explained_variance_ratio],
               "kmeans_sizes": km.sizes.tolist(), "kmeans_centers_ind": km.centers_ind.tolist(),
               "umap": emb is not None, "volumes": maker is not None,
               "pixel_size": None if maker is None else maker.pixel_size,
               "trained_on_subset": subset}  # True: particles.csv star_row != index (trained with --ind)
    if k_sel is not None:
        summary["k_selection"] = k_sel  # also k_selection.json
    if truth is not None:
        summary["ari"] = {k: v["ari"] for k, v in gt.items() if v is not None}
        # one ground_truth.json per clustering folder: say where, relative to this folder
        summary["ground_truth_json"] = {k: f"{k}{ksample}/ground_truth.json" for k, v in gt.items() if v is not None}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _write_table(path, z, pcs, emb, labels, gmm_labels, star_rows) -> None:
    import pandas as pd
    cols = {"index": np.arange(len(z)), "star_row": star_rows}
    cols.update({f"z{i}": z[:, i] for i in range(z.shape[1])})
    cols.update({f"PC{i + 1}": pcs[:, i] for i in range(min(2, pcs.shape[1]))})
    if emb is not None:
        cols.update({"UMAP1": emb[:, 0], "UMAP2": emb[:, 1]})
    cols["cluster"] = labels
    if gmm_labels is not None:
        cols["gmm_cluster"] = gmm_labels
    pd.DataFrame(cols).to_csv(path, index=False, float_format="%.6g")
