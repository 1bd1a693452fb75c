"""Reading a training run folder: epochs, latent files, losses, config (no model needed)."""
from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import yaml

from ..errors import TomoDrgnInputError


def epochs_with(workdir, pattern: str = r"z\.(\d+)\.train\.pkl") -> list[int]:
    """Sorted epochs for which a file matching ``pattern`` (one integer group) exists."""
    workdir = Path(workdir)
    return sorted(int(m.group(1)) for p in workdir.glob("*") if (m := re.fullmatch(pattern, p.name)))


def resolve_epoch(workdir, epoch: int, pattern: str = r"z\.(\d+)\.train\.pkl") -> int:
    """``epoch`` itself, or the last saved epoch when it is negative; errors list what exists."""
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise TomoDrgnInputError("training folder not found", path=workdir, fix="give the -o folder of train_vae")
    found = epochs_with(workdir, pattern)
    if not found:
        raise TomoDrgnInputError("no saved epochs in this folder", path=workdir,
                                 fix="give the -o folder of a finished train_vae/train_nn run")
    if epoch is None or epoch == -1:
        return found[-1]
    if epoch < 0:
        raise TomoDrgnInputError(f"epoch {epoch}: give a saved epoch (0-based) or -1 for the last", path=workdir,
                                 fix=f"saved: {', '.join(map(str, found))}")
    if epoch not in found:
        raise TomoDrgnInputError(f"epoch {epoch} was not saved (saved: {', '.join(map(str, found))})", path=workdir,
                                 fix="pick a saved epoch (numbered from 0), or -1 for the last")
    return epoch


def read_z(path) -> np.ndarray:
    """(N, zdim) float32 latent means from .pkl (pickled array), .npy, .npz ('mu') or text."""
    path = Path(path)
    if not path.is_file():
        raise TomoDrgnInputError("latent file not found", path=path, fix="give z.<epoch>.train.pkl of a VAE run")
    try:
        if path.suffix == ".pkl":
            with open(path, "rb") as f:
                z = pickle.load(f)
        elif path.suffix == ".npy":
            z = np.load(path)
        elif path.suffix == ".npz":
            z = np.load(path)["mu"]
        else:
            z = np.loadtxt(path, ndmin=2)
        z = np.asarray(z, dtype=np.float32)
    except Exception as err:  # pickle/numpy raise many kinds for foreign files
        raise TomoDrgnInputError(f"unreadable latent file ({type(err).__name__})", path=path,
                                 fix="give z.<epoch>.train.pkl (pickled numpy array) or a .npy/.txt of z") from None
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or not len(z) or not np.isfinite(z).all():
        raise TomoDrgnInputError(f"latent array has shape {z.shape} or non-finite values", path=path,
                                 fix="give one row of finite values per particle")
    return z


def load_z(workdir, epoch: int) -> np.ndarray:
    return read_z(Path(workdir) / f"z.{epoch}.train.pkl")


def read_losses(workdir) -> dict[str, np.ndarray] | None:
    """Columns of losses.csv (epoch, loss, mse, kld, seconds, particles_per_s), or None if absent."""
    path = Path(workdir) / "losses.csv"
    if not path.is_file():
        return None
    import pandas as pd
    df = pd.read_csv(path)
    return {c: df[c].to_numpy() for c in df.columns}


def read_config(workdir) -> dict:
    path = Path(workdir) / "config.yaml"
    if not path.is_file():
        raise TomoDrgnInputError("config.yaml not found", path=path.parent, fix="give the -o folder of a training run")
    with open(path) as f:
        return yaml.safe_load(f)


def write_pickle(path, obj) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f)
    return path


def read_pickle(path):
    path = Path(path)
    if not path.is_file():
        raise TomoDrgnInputError("file not found", path=path, fix="check the path")
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except Exception as err:
        raise TomoDrgnInputError(f"unreadable pickle ({type(err).__name__})", path=path,
                                 fix="give a .pkl written by tomodrgn (a pickled numpy array)") from None
