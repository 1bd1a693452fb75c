"""analyze_volumes workflow: volumes per particle or per k-means sample -> voxel-space PCA (+UMAP) + plots."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import plots
from .metrics import soft_mask
from .volumes import VolumeMaker, sphere_mask, voxel_pca


def make_mask(kind: str, vols: np.ndarray, mask_path=None) -> np.ndarray | None:
    """'none', 'sphere' (ball of radius D/2), 'soft' (the paper's mask of the mean volume), or a file."""
    if mask_path:
        from ..io import read_volume
        m = read_volume(mask_path)[0]
        if m.shape != vols.shape[1:]:
            from ..errors import TomoDrgnInputError
            raise TomoDrgnInputError(f"mask shape {m.shape} differs from the volumes' {vols.shape[1:]}",
                                     path=mask_path, fix="give a mask of the same box (or use --downsample)")
        return m
    if kind == "sphere":
        return sphere_mask(vols.shape[-1]).astype(np.float32)
    if kind == "soft":
        return soft_mask(vols.mean(0))
    return None


def analyze_volume_space(vols: np.ndarray, out_dir, pixel_size: float, particle_ind: np.ndarray | None = None,
                         labels: np.ndarray | None = None, mask: str = "none", mask_path=None, num_pcs: int = 10,
                         skip_umap: bool = False, seed: int = 0, log=print) -> dict:
    """PCA of ``vols`` (n, D, D, D) in voxel space inside the mask; plots coloured by ``labels`` if given."""
    from ..io import write_volume

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    m = make_mask(mask, vols, mask_path)
    if m is not None:
        write_volume(out / "mask.mrc", m, pixel_size)
    coords, ratio, mean, comps = voxel_pca(vols, m, num_pcs)
    write_volume(out / "mean.mrc", mean, pixel_size)
    for i, c in enumerate(comps[:3]):
        write_volume(out / f"pc{i + 1}.mrc", c, pixel_size)
    plots.bars(100 * ratio, out / "explained_variance.png", "PC", "explained variance (%)",
               "voxel-space PCA", labels=np.arange(1, len(ratio) + 1))
    xlab, ylab = plots.pc_labels(ratio)
    plots.scatter(coords[:, :2], out / "voxel_pca.png", labels, xlabel=xlab, ylabel=ylab,
                  title=f"voxel PCA of {len(vols)} volumes")
    plots.volume_slices(vols, out / "volume_projections.png", "z-projections of the first volumes")
    emb = None
    if not skip_umap and len(vols) > 3 and coords.shape[1] > 1:
        from .latent import run_umap
        emb, _ = run_umap(coords, seed=seed, n_neighbors=min(15, len(vols) - 1))
        plots.scatter(emb, out / "voxel_umap.png", labels, xlabel="UMAP1", ylabel="UMAP2", title="UMAP of voxel PCs")
    import pandas as pd
    cols = {"volume": np.arange(len(vols))}
    if particle_ind is not None:
        cols["particle"] = particle_ind
    if labels is not None:
        cols["cluster"] = labels
    cols.update({f"PC{i + 1}": coords[:, i] for i in range(coords.shape[1])})
    if emb is not None:
        cols.update({"UMAP1": emb[:, 0], "UMAP2": emb[:, 1]})
    pd.DataFrame(cols).to_csv(out / "voxel_pca.csv", index=False, float_format="%.6g")
    np.save(out / "voxel_pca.npy", coords)
    summary = {"n_volumes": int(len(vols)), "box": int(vols.shape[-1]), "mask": "file" if mask_path else mask,
               "explained_variance_ratio": [float(r) for r in ratio], "umap": emb is not None}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    log(f"voxel PCA of {len(vols)} volumes: PC1 explains {100 * ratio[0]:.1f}% -> {out}")
    return summary


def volumes_for(z: np.ndarray, maker: VolumeMaker, out_dir, ksample: int | None, seed: int = 0, log=print):
    """Volumes per particle (ksample None) or per k-means representative particle; written to out_dir/vols.
    Returns (vols, particle indices, labels of those volumes or None)."""
    if ksample and ksample >= len(z):  # sample volumes only: all particles is what the user would get anyway
        log(f"--ksample {ksample} >= {len(z)} particles: one volume per particle ({len(z)} volumes)")
        ksample = None
    if ksample:
        from .latent import cluster_kmeans
        km = cluster_kmeans(z, ksample, seed=seed)
        ind, labels = km.centers_ind, np.arange(len(km.centers_ind))
    else:
        ind, labels = np.arange(len(z)), None
    vols = maker(z[ind])  # generated once, written and returned
    maker.save(vols, Path(out_dir) / "vols")
    return vols, ind, labels
