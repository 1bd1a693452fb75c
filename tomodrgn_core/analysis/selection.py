"""Particle selections from files: index lists, cluster labels, boolean masks -> sorted indices."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import TomoDrgnInputError


def read_array(path) -> np.ndarray:
    """1D array from .pkl (pickled array/list), .npy, or text (one value per line, or all on one line).

    Tables (an (n, 2) array, a list of lists, several values on several lines) are refused, not flattened:
    their numbers would be taken for particles silently. (n, 1) and (1, n) are lists.
    """
    from .rundir import read_pickle

    path = Path(path)
    if not path.is_file():
        raise TomoDrgnInputError("selection file not found", path=path, fix="check the path")
    try:
        if path.suffix == ".pkl":
            arr = np.asarray(read_pickle(path))
        elif path.suffix == ".npy":
            arr = np.load(path)
        else:
            text = path.read_text()
            txt = text.split()
            low = [t.lower() for t in txt]
            arr = np.array([t in ("1", "true") for t in low]) if set(low) <= {"0", "1", "true", "false"} and \
                any(t in ("true", "false") for t in low) else np.array(txt, dtype=np.float64)
    except TomoDrgnInputError:
        raise
    except Exception as err:
        raise TomoDrgnInputError(f"unreadable selection file ({type(err).__name__})", path=path,
                                 fix="give a .pkl/.npy array or a text file with one number per line") from None
    _refuse_tables(arr, path, None if path.suffix in (".pkl", ".npy") else text)
    return arr.reshape(-1)


def _refuse_tables(arr: np.ndarray, path: Path, text: str | None) -> None:
    """Raise for more than one non-singleton dimension (text: several lines holding several values)."""
    if text is None:
        table, what = sum(d != 1 for d in arr.shape) > 1 and arr.size > 0, f"an array of shape {arr.shape}"
    else:
        counts = [len(line.split()) for line in text.splitlines() if line.strip()]
        table = len(counts) > 1 and max(counts) > 1
        k = f"{min(counts)} to {max(counts)}" if table and min(counts) != max(counts) else max(counts, default=0)
        what = f"{len(counts)} lines of {k} values"
    if table:
        raise TomoDrgnInputError(f"selection file holds {what}, not a 1-D list", path=path,
                                 fix="save a 1-D list of particle indices (or one True/False per particle)")


def indices_from_ind(path, n: int) -> np.ndarray:
    """Sorted 0-based particle indices from an index file (or a True/False mask); each index at most once."""
    arr = read_array(path)
    if arr.dtype == bool:
        return indices_from_mask(arr, n, path)
    if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr))):
        raise TomoDrgnInputError("index file holds non-integer values", path=path, fix="give 0-based particle indices")
    arr = arr.astype(np.int64)
    # a labels file (one cluster number per particle) read as indices would select the particles {0, 1, ..}
    # silently; an index list names each particle once
    uniq, first = np.unique(arr, return_index=True)
    if len(uniq) < len(arr):
        i = int(np.setdiff1d(np.arange(len(arr)), first)[0])
        raise TomoDrgnInputError(f"index file repeats particle indices: {len(arr) - len(uniq)} of its {len(arr)} "
                                 f"values are repeats ({len(uniq)} distinct, first repeat {arr[i]})", path=path,
                                 row=i + 1, fix="give each particle index once; for cluster labels use "
                                                "--labels labels.pkl --labels-sel K")
    bad = arr[(arr < 0) | (arr >= n)]
    if len(bad):
        i = int(np.flatnonzero((arr < 0) | (arr >= n))[0])
        raise TomoDrgnInputError(f"particle index {bad[0]} is out of range (0..{n - 1})", path=path, row=i + 1,
                                 fix="give 0-based indices of particles of this STAR file")
    return np.unique(arr)


def indices_from_labels(path, selected, n: int) -> np.ndarray:
    labels = read_array(path)
    if len(labels) != n:
        raise TomoDrgnInputError(f"labels file has {len(labels)} entries for {n} particles", path=path,
                                 fix="use labels.pkl from the analysis of a run trained on this STAR file")
    if not selected:
        raise TomoDrgnInputError("no labels chosen", path=path, fix="add --labels-sel with the cluster numbers to keep")
    missing = sorted(set(int(s) for s in selected) - set(np.unique(labels).astype(int)))
    if missing:
        raise TomoDrgnInputError(f"label {missing[0]} does not occur", path=path,
                                 fix=f"choose among {sorted(set(np.unique(labels).astype(int)))}")
    return np.flatnonzero(np.isin(labels.astype(np.int64), np.asarray(selected, dtype=np.int64)))


def indices_from_mask(mask, n: int, path=None) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != bool:
        if not np.isin(mask, (0, 1)).all():
            raise TomoDrgnInputError("mask holds values other than 0/1/True/False", path=path,
                                     fix="give one True/False per particle")
        mask = mask.astype(bool)
    if len(mask) != n:
        raise TomoDrgnInputError(f"mask has {len(mask)} entries for {n} particles", path=path,
                                 fix="give one True/False per particle, in input order")
    return np.flatnonzero(mask)
