"""Reading a training run folder: epochs, latent files, losses, config (no model needed)."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import yaml

from ..errors import TomoDrgnInputError


from ..runfiles import WEIGHTS, epochs_with  # noqa: E402,F401  (pure: the Scipion plugin imports it there)


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


def read_z(path, zdim: int | None = None, n: int | None = None) -> np.ndarray:
    """(N, zdim) float32 latent means from .pkl (pickled array), .npy, .npz ('mu') or text; with ``zdim`` /
    ``n`` given, the width / row count is checked too (see check_z)."""
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
    return check_z(z, path, zdim, n)


def check_z(z: np.ndarray, path, zdim: int | None = None, n: int | None = None) -> np.ndarray:
    """``z`` unchanged if it has ``zdim`` columns (the model's) and ``n`` rows (the run's particles);
    otherwise an error naming the file and the shapes expected vs found."""
    if zdim == 0:
        raise TomoDrgnInputError("latent values given, but the model is homogeneous (train_nn, zdim 0)",
                                 path=path, fix="give --weights of a train_vae run")
    found = f"latent array is {z.shape[0]} x {z.shape[1]}, expected {'N' if n is None else n} x " \
            f"{z.shape[1] if zdim is None else zdim}"
    if zdim is not None and z.shape[1] != zdim:
        raise TomoDrgnInputError(f"{found} (the model's zdim is {zdim})", path=path,
                                 fix=f"give {zdim} values per row, e.g. a z file of the same training run")
    if n is not None and len(z) != n:
        raise TomoDrgnInputError(f"{found} (one row per particle: the run has {n})", path=path,
                                 fix="give the z file written by this training run")
    return z


def load_z(workdir, epoch: int) -> np.ndarray:
    """z of a saved epoch, checked against the run's config.yaml (zdim, particle count) when it exists."""
    workdir = Path(workdir)
    cfg = read_config(workdir) if (workdir / "config.yaml").is_file() else {}
    zdim = (cfg.get("model") or {}).get("zdim") or None  # 0 (train_nn): no z files, other errors apply
    return read_z(workdir / f"z.{epoch}.train.pkl", zdim, (cfg.get("dataset") or {}).get("n_particles"))


def load_logvar(workdir, epoch: int, n: int | None = None) -> np.ndarray | None:
    """The encoder's posterior log-variances of a saved epoch (z.{epoch}.train.npz 'logvar'), or None when the
    run did not write them (only the .pkl of means) or they do not fit ``n`` rows."""
    path = Path(workdir) / f"z.{epoch}.train.npz"
    if not path.is_file():
        return None
    try:
        logvar = np.asarray(np.load(path)["logvar"], np.float64)
    except Exception:  # an npz without logvar, or unreadable: the check that needs it is skipped
        return None
    ok = logvar.ndim == 2 and np.isfinite(logvar).all() and (n is None or len(logvar) == n)
    return logvar if ok else None


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


def write_json(path, obj) -> Path:
    """Strict JSON (any reader parses it): numpy numbers as numbers, NaN/inf (e.g. a resolution the FSC never
    reaches) as null."""
    import json

    def clean(v):
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple, np.ndarray)):
            return [clean(x) for x in v]
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, np.integer)):
            return int(v)
        if isinstance(v, (float, np.floating)):
            return float(v) if np.isfinite(v) else None
        return v

    path = Path(path)
    path.write_text(json.dumps(clean(obj), indent=1, allow_nan=False))
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
