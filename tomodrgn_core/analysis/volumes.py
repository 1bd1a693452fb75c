"""Volumes from a trained run (a small wrapper over tomodrgn_core.evaluation) and voxel-space PCA."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import TomoDrgnInputError

VolumeFn = Callable[[np.ndarray], np.ndarray]  # z (n, zdim) -> volumes (n, D, D, D)


@dataclass
class VolumeMaker:
    """Turns latent points into volumes and writes them; ``fn`` may be any callable (tests pass stubs)."""
    fn: VolumeFn
    pixel_size: float
    zdim: int | None = None  # the model's latent width (0: homogeneous), when known: to check z files first

    def __call__(self, z: np.ndarray, chunk: int = 8) -> np.ndarray:
        z = np.atleast_2d(np.asarray(z, dtype=np.float32))
        return np.concatenate([self.fn(z[i:i + chunk]) for i in range(0, len(z), chunk)]) if len(z) else z

    def write(self, z: np.ndarray, out_dir, prefix: str = "vol_") -> list[Path]:
        """Generate and write volumes chunk by chunk (bounded memory for long series)."""
        paths = []
        for start in range(0, len(z), 8):
            paths += self.save(self(z[start:start + 8]), out_dir, prefix, start)
        return paths

    def save(self, vols: np.ndarray, out_dir, prefix: str = "vol_", start: int = 0) -> list[Path]:
        """Write already generated volumes as {prefix}{start + i:03d}.mrc (no second decoder pass)."""
        from ..io import write_volume
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        return [write_volume(out_dir / f"{prefix}{start + j:03d}.mrc", v, self.pixel_size) for j, v in enumerate(vols)]


def volume_maker(weights_or_workdir, epoch: int = -1, device=None, downsample: int | None = None,
                 Apix: float | None = None, flip: bool = False, invert: bool = False) -> VolumeMaker:
    """A VolumeMaker for a trained model (``workdir`` + epoch, or a weights.<epoch>.pkl path)."""
    from ..evaluation import check_volume_args, generate_volumes, load_model, volume_pixel_size

    model, cfg = load_model(weights_or_workdir, epoch=epoch, device=device)
    check_volume_args(cfg, downsample, Apix)

    def fn(z):
        return generate_volumes(model, cfg, z if cfg["model"]["zdim"] else None, box=downsample, flip=flip,
                                invert=invert)

    return VolumeMaker(fn, float(Apix or volume_pixel_size(cfg, downsample)), int(cfg["model"]["zdim"] or 0))


def sphere_mask(D: int, radius: float | None = None) -> np.ndarray:
    """Boolean ball of ``radius`` px (default D/2) centred at voxel D//2."""
    ax = np.arange(D) - D // 2
    r = np.sqrt(ax[:, None, None] ** 2 + ax[None, :, None] ** 2 + ax[None, None, :] ** 2)
    return r <= (D / 2 if radius is None else radius)


def voxel_pca(vols: np.ndarray, mask: np.ndarray | None = None, n_components: int = 10):
    """PCA of volumes as voxel vectors (inside ``mask``). Returns (coords (n, k), explained ratio (k,),
    mean volume (D,D,D), component volumes (k, D,D,D))."""
    from sklearn.decomposition import PCA

    vols = np.asarray(vols, dtype=np.float32)
    n, D = len(vols), vols.shape[-1]
    m = np.ones((D, D, D), bool) if mask is None else np.asarray(mask) > 0.5
    x = vols.reshape(n, -1)[:, m.reshape(-1)]
    k = max(1, min(n_components, n - 1 if n > 1 else 1, x.shape[1]))
    pca = PCA(n_components=k).fit(x)
    comps = np.zeros((k, D ** 3), np.float32)
    comps[:, m.reshape(-1)] = pca.components_
    mean = np.zeros(D ** 3, np.float32)
    mean[m.reshape(-1)] = pca.mean_
    return (pca.transform(x).astype(np.float32), pca.explained_variance_ratio_, mean.reshape(D, D, D),
            comps.reshape(k, D, D, D))
