"""A run's saved state, below both training and evaluation (which import it; neither imports the other):
checkpoints weights.{epoch}.pkl = torch.save dict (model, optimizer, epoch, config), the latent embedding of the
particles (``embed``) and its files z.{epoch}.train.pkl / .npz. Every file is written to a temporary name and
renamed, so a run killed mid-write never leaves a truncated file that a resume or an analysis would read."""
from __future__ import annotations

from pathlib import Path

import torch

import os
import pickle

import numpy as np

from .analysis.rundir import WEIGHTS, epochs_with
from .errors import TomoDrgnInputError


def save_checkpoint(path, model, optimizer, epoch: int, config: dict) -> None:
    tmp = Path(str(path) + ".partial")
    torch.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict(),
                "epoch": epoch, "config": config}, tmp)
    tmp.replace(path)


def latest_checkpoint(workdir) -> Path | None:
    epochs = epochs_with(workdir, WEIGHTS)
    return Path(workdir) / f"weights.{epochs[-1]}.pkl" if epochs else None


def check_device(requested) -> torch.device:
    """The torch device for ``--device`` (None/'auto': cuda if available, else cpu), checked against this
    machine first: torch.load on a missing GPU fails like a corrupt file, which would blame the checkpoint."""
    if requested is None or requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(requested)
    except (RuntimeError, TypeError, ValueError):
        raise TomoDrgnInputError(f"--device {requested}: not a device name",
                                 fix="--device cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (dev.index or 0) >= n:
            gpus = f" or a listed GPU (cuda:0..cuda:{n - 1})" if n else ""
            raise TomoDrgnInputError(f"--device {requested}: no such CUDA device (this machine has {n})",
                                     fix=f"--device cpu{gpus}")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise TomoDrgnInputError(f"--device {requested}: MPS is not available on this machine", fix="--device cpu")
    elif dev.type not in ("cpu", "mps"):
        raise TomoDrgnInputError(f"--device {requested}: not supported", fix="--device cpu, cuda or cuda:N")
    return dev


def load_checkpoint(path, map_location="cpu") -> dict:
    path = Path(path)
    if isinstance(map_location, (str, torch.device)):
        check_device(map_location)  # a missing GPU is not an unreadable checkpoint
    if not path.is_file():
        raise TomoDrgnInputError("checkpoint not found", path=path,
                                 fix="give a weights.<epoch>.pkl written by tomodrgn")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # torch raises many kinds for a corrupt/foreign file
        raise TomoDrgnInputError(f"not a readable tomodrgn checkpoint ({type(err).__name__})", path=path,
                                 fix="give a weights.<epoch>.pkl written by tomodrgn train_vae/train_nn") from None
    if not isinstance(ckpt, dict) or "model_state_dict" not in ckpt or "config" not in ckpt:
        raise TomoDrgnInputError("file is not a tomodrgn checkpoint (no model_state_dict/config)", path=path,
                                 fix="give a weights.<epoch>.pkl written by tomodrgn train_vae/train_nn")
    from .models import ARCHITECTURE
    from .models._decoder import FEATURES
    model = ckpt["config"].get("model", {})
    if model.get("decoder_features") != FEATURES:
        raise TomoDrgnInputError("checkpoint from a pre-release decoder (Fourier features with an extra 2 pi): "
                                 "its volumes would be wrong", path=path, fix="train again with this version")
    if model.get("architecture") != ARCHITECTURE:
        raise TomoDrgnInputError("checkpoint from a version whose networks had one residual layer fewer than the "
                                 "reference tomoDRGN's for the same flags: this version cannot load it", path=path,
                                 fix="train again with this version")
    return ckpt


@torch.no_grad()
def embed(model, data, batch_size: int = 64):
    """Deterministic latent means and log-variances of every particle of a TiltSeriesData (fixed lowest-dose
    tilts, not the random training draw)."""
    model.eval()
    mus, logvars = [], []
    for b in data.batches(torch.arange(data.n_particles, device=data.index_device).split(batch_size), random=False):
        mu, logvar = model.encode(b.encoder_input())
        mus.append(mu.float().cpu())
        logvars.append(logvar.float().cpu())
    model.train()
    return torch.cat(mus).numpy(), torch.cat(logvars).numpy()


def write_z(outdir, epoch: int, mu: np.ndarray, logvar: np.ndarray) -> None:
    """z.{epoch}.train.pkl (means, the reference's file) and z.{epoch}.train.npz (mu, logvar), each atomically."""
    outdir = Path(outdir)
    pkl, npz = outdir / f"z.{epoch}.train.pkl", outdir / f"z.{epoch}.train.npz"
    with open(str(pkl) + ".partial", "wb") as f:
        pickle.dump(mu.astype(np.float32), f)
    os.replace(str(pkl) + ".partial", pkl)
    with open(str(npz) + ".partial", "wb") as f:  # (a file object: np.savez would append .npz to a name)
        np.savez(f, mu=mu.astype(np.float32), logvar=logvar.astype(np.float32))
    os.replace(str(npz) + ".partial", npz)
