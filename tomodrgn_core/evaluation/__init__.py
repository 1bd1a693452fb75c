"""Trained models in use: load, generate volumes at latent points, embed particles.

The stable API the analysis commands and the Scipion plugin call.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import physics as P
from ..analysis.rundir import WEIGHTS, epochs_with
from ..errors import TomoDrgnInputError


def load_model(workdir, epoch: int = -1, device=None):
    """(model, config) from ``workdir/weights.{epoch}.pkl`` (epoch -1: the last) or a weights file path."""
    from ..models import build_model
    from ..checkpoints import check_device, latest_checkpoint, load_checkpoint

    workdir = Path(workdir)
    if workdir.is_file():
        path = workdir
    elif not workdir.exists():
        # a mistyped checkpoint (weights.99.pkl) or folder is "not found", not "train first"
        what = "checkpoint" if workdir.suffix == ".pkl" else "training folder"
        raise TomoDrgnInputError(f"{what} not found{_saved_note(workdir.parent)}", path=workdir,
                                 fix=_pick_fix(workdir.parent) or "check the path (give weights.<epoch>.pkl or its "
                                                                  "training folder)")
    elif epoch is None or epoch < 0:
        path = latest_checkpoint(workdir)
        if path is None:
            raise TomoDrgnInputError("no weights.<epoch>.pkl in the training folder", path=workdir,
                                     fix="train first, or give the folder of a finished run")
    else:
        path = workdir / f"weights.{epoch}.pkl"
        if not path.is_file():
            raise TomoDrgnInputError(f"no checkpoint of epoch {epoch}{_saved_note(workdir)}", path=path,
                                     fix=_pick_fix(workdir) or "train first, or give the folder of a finished run")
    device = check_device(device)  # a missing GPU is named as such, before the checkpoint is read
    ckpt = load_checkpoint(path, map_location=device)
    model = build_model(ckpt["config"]["model"]).to(device)
    model.load_state_dict(ckpt["model_state_dict"])
    model.eval()
    config = dict(ckpt["config"])
    config["epoch"] = ckpt["epoch"]
    return model, config


def _ranges(values: list[int]) -> str:
    """[0, 1, 2, 3, 9] -> '0-3, 9': a run saved every epoch for 200 epochs stays one short line."""
    out, start = [], None
    for i, v in enumerate(values):
        start = v if start is None else start
        if i + 1 == len(values) or values[i + 1] != v + 1:
            out.append(f"{start}" if start == v else f"{start}-{v}")
            start = None
    return ", ".join(out)


def _saved_note(folder) -> str:
    epochs = epochs_with(folder, WEIGHTS)
    return f" (saved epochs in {folder}: {_ranges(epochs)})" if epochs else ""


def _pick_fix(folder) -> str | None:
    epochs = epochs_with(folder, WEIGHTS)
    if not epochs:
        return None
    return f"give one of the saved checkpoints, e.g. {Path(folder) / f'weights.{epochs[-1]}.pkl'}"


@torch.no_grad()
def generate_volumes(model, config, z=None, box: int | None = None, pixel_size: float | None = None,
                     flip: bool = False, invert: bool = False, device=None, chunk: int = 2 ** 17) -> np.ndarray:
    """Volumes vol[z, y, x] (n, D, D, D) float32 at latent points ``z`` (n, zdim); z=None for homogeneous.

    ``box`` smaller than the training box Fourier-crops the volume (its pixel size grows accordingly);
    ``flip`` mirrors along z (hand), ``invert`` flips the sign.
    """
    device = next(model.parameters()).device if device is None else torch.device(device)
    D = config["model"]["box"]
    zdim = config["model"]["zdim"]
    if zdim:
        if z is None:
            raise TomoDrgnInputError("this is a VAE: latent values are needed", fix="pass --zfile or -z values")
        z = np.atleast_2d(np.asarray(z, dtype=np.float32))
        if z.shape[1] != zdim:
            raise TomoDrgnInputError(f"latent values have {z.shape[1]} dimensions, the model has zdim {zdim}",
                                     fix=f"give {zdim} numbers per volume")
    n = len(z) if zdim else 1
    coords = P.lattice_3d(D, device=device)
    inside = coords.norm(dim=-1) <= 0.5
    pts = coords[inside]
    norm = float(config.get("dataset", {}).get("norm_std", 1.0))
    vols = np.empty((n, D, D, D), dtype=np.float32)
    for i in range(n):
        zi = torch.as_tensor(z[i], device=device)[None] if zdim else None
        ht = torch.zeros(D ** 3, device=device)
        vals = [model.decode(pts[s:s + chunk], zi) for s in range(0, len(pts), chunk)]
        ht[inside] = torch.cat(vals).float()
        vols[i] = (P.iht3_center(ht.reshape(D, D, D).double()) * norm).float().cpu().numpy()
    if box and box != D:
        from ..physics.resample import fourier_crop_3d
        vols = fourier_crop_3d(vols, box)
    if flip:
        vols = vols[:, ::-1].copy()
    if invert:
        vols = -vols
    return vols


def write_volumes(vols, out, pixel_size: float, prefix: str = "vol_") -> list[Path]:
    """Write (n, D, D, D) volumes as ``out/{prefix}{i:03d}.mrc`` (or to an explicit list of paths)."""
    from ..io import write_volume

    if isinstance(out, (list, tuple)):
        paths = [Path(p) for p in out]
    else:
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise TomoDrgnInputError("the output folder is a file", path=out,
                                     fix="give -o a folder (or a .mrc name for one volume)")
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / f"{prefix}{i:03d}.mrc" for i in range(len(vols))]
    for p, v in zip(paths, vols):
        write_volume(p, v, pixel_size)
    return paths


def embed_particles(model, config, particle_set, batch_size: int = 64, device=None, lazy: bool = False):
    """(mu, logvar) numpy arrays for every particle, with the deterministic lowest-dose tilt choice."""
    from ..data import TiltSeriesData, choose_lazy, preprocess
    from ..checkpoints import embed

    device = next(model.parameters()).device if device is None else torch.device(device)
    ds = config["dataset"]
    pre = Path(ds["preprocessed"])
    if not pre.exists() or Path(particle_set.star_path).resolve() != Path(ds["particles"]):
        pre = preprocess(particle_set, Path(pre).parent, ds["invert_data"], log=lambda m: None, window=ds.get("window"))
    data = TiltSeriesData(particle_set, pre, device, lazy=choose_lazy(pre, device, lazy), norm_std=ds["norm_std"],
                          sample_ntilts=config["model"]["ntilts"])
    return embed(model, data, batch_size)


def check_volume_args(config, downsample: int | None, Apix: float | None) -> None:
    """-d/--downsample and --Apix of the volume commands, checked before any volume is made."""
    box = config["model"]["box"]
    if downsample is not None and (downsample <= 0 or downsample > box or downsample % 2):
        raise TomoDrgnInputError(f"--downsample {downsample} must be even and at most the training box {box}",
                                 fix="choose a smaller even box (Fourier cropping cannot add resolution)")
    if Apix is not None and Apix <= 0:
        raise TomoDrgnInputError(f"--Apix {Apix} is not a pixel size", fix="give a positive A/px, or leave it out")


def volume_pixel_size(config, box: int | None = None) -> float:
    D = config["model"]["box"]
    return float(config["dataset"]["pixel_size"]) * D / (box or D)


__all__ = ["load_model", "generate_volumes", "write_volumes", "embed_particles", "volume_pixel_size", "check_volume_args"]
