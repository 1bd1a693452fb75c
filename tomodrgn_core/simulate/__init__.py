"""Synthetic tilt-series particle datasets for tests and the demo (no downloads).

``simulate(...)`` -> SimulatedDataset in memory; ``simulate_dataset(out_dir, ...)`` writes it as a
Warp/M image-series STAR and/or a RELION 5 optimisation set plus ground-truth volumes and labels.
``simulate_from_star(star, maps, labels, out_star, snr, seed)`` projects known maps at the poses, CTFs and
exposures of a real STAR instead (e.g. a second class for the reference's cryoSRPNT fixture).
"""
from pathlib import Path

from ._blobs import BlobModel, project_blobs, render_volumes
from ._dataset import SimulatedDataset, random_rotations, simulate
from ._from_star import project_volume, remove_domain, simulate_from_star
from ._tilts import dose_symmetric_scheme
from ._write import write_ground_truth, write_relion5, write_warp


def simulate_dataset(out_dir, n_particles: int = 100, box: int = 32, n_classes: int = 2, snr=0.1, seed: int = 0,
                     layout: str = "warp", overwrite: bool = False, **kwargs) -> dict:
    """Simulate (``simulate``'s keyword arguments pass through: pixel_size, max_tilt, tilt_step, dose_per_tilt,
    n_tomos, drop_tilts, max_shift_px, continuous, structural_snr, clustered_class, ...) and write; returns
    {'warp': star, 'relion5': optimisation set, 'volumes': [...],
    'labels': labels.npy path, 'dataset': SimulatedDataset}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sim = simulate(n_particles=n_particles, box=box, n_classes=n_classes, snr=snr, seed=seed, **kwargs)
    out = {"dataset": sim, "volumes": write_ground_truth(sim, out_dir / "ground_truth"),
           "labels": out_dir / "ground_truth" / "labels.npy"}
    if layout in ("warp", "both"):
        out["warp"] = write_warp(sim, out_dir / "particles.star", overwrite=overwrite)
    if layout in ("relion5", "both"):
        out["relion5"] = write_relion5(sim, out_dir / "relion5", overwrite=overwrite)
    return out


__all__ = ["simulate", "simulate_dataset", "SimulatedDataset", "BlobModel", "project_blobs", "render_volumes",
           "random_rotations", "dose_symmetric_scheme", "write_warp", "write_relion5", "write_ground_truth",
           "simulate_from_star", "project_volume", "remove_domain"]
