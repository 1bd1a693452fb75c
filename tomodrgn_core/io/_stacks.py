"""Lazy, memory-mapped access to .mrcs image stacks.

Handles are opened once and kept in a small LRU cache (bounded, so a RELION 5 set with one stack per
particle never exhausts file descriptors); reads are grouped by file; only the requested slices are
copied to float32, so memory does not grow with the dataset.
"""
from __future__ import annotations

import os
from collections import OrderedDict

import mrcfile
import numpy as np

from ..errors import TomoDrgnInputError
from ._mrc import quiet_mrc
from ._star import note_input


MODE_BYTES = {0: 1, 1: 2, 2: 4, 6: 2, 12: 2}  # MRC modes: int8, int16, float32, uint16, float16


def stack_shapes(paths: np.ndarray, star_path, rows: np.ndarray) -> dict[str, tuple[int, int, int]]:
    """(n_slices, ny, nx) for each unique stack path; unreadable stacks raise naming the STAR row."""
    shapes = {}
    uniq, first = np.unique(np.asarray(paths, dtype=object), return_index=True)
    for path, i in zip(uniq, first):
        note_input(path)
        try:
            with quiet_mrc(), mrcfile.open(path, mode="r", header_only=True, permissive=True) as mrc:
                h = mrc.header
                if h is None:
                    raise ValueError("no valid MRC header")
                nx, ny, nz = int(h.nx), int(h.ny), int(h.nz)
                mode = int(h.mode)
                data_start = 1024 + int(h.nsymbt)
        except Exception as err:
            raise TomoDrgnInputError(f"image stack {path} is unreadable ({err})", path=star_path, row=int(rows[i]),
                                     fix="re-export or re-extract this particle's stack") from None
        if nx <= 0 or ny <= 0 or nz <= 0 or mode not in (0, 1, 2, 6, 12):
            raise TomoDrgnInputError(f"image stack {path} has an invalid header (nx={nx}, ny={ny}, nz={nz}, "
                                     f"mode={mode})", path=star_path, row=int(rows[i]),
                                     fix="re-export or re-extract this particle's stack")
        need = data_start + nx * ny * nz * MODE_BYTES[mode]
        size = os.path.getsize(path)
        if size < need:  # e.g. an export or a copy cut short: the header promises more than the file holds
            raise TomoDrgnInputError(f"image stack {path} is truncated ({size} bytes; its header describes {nz} "
                                     f"images of {nx}x{ny}, {need} bytes)", path=star_path, row=int(rows[i]),
                                     fix="re-export or copy the stack again")
        shapes[path] = (nz, ny, nx)
    return shapes


def check_stacks(paths: np.ndarray, indices: np.ndarray, star_path, rows: np.ndarray) -> int:
    """Validate every (stack, slice) reference; return the common box size."""
    paths = np.asarray(paths, dtype=object)
    shapes = stack_shapes(paths, star_path, rows)
    dims = np.array([shapes[p] for p in paths], dtype=np.int64).reshape(-1, 3)
    low = np.flatnonzero(indices < 0)  # readers check this first; kept for tables built elsewhere
    if len(low):
        i = low[0]
        raise TomoDrgnInputError(f"image index {indices[i] + 1} of {paths[i]} is below 1 (indices are 1-based)",
                                 path=star_path, row=int(rows[i]), fix="renumber the image indices from 1")
    past = np.flatnonzero(indices >= dims[:, 0])
    if len(past):
        i = past[0]
        raise TomoDrgnInputError(f"image index {indices[i] + 1} is past the end of {paths[i]} "
                                 f"({dims[i, 0]} slices)", path=star_path, row=int(rows[i]),
                                 fix="check rlnImageName against the stack (indices are 1-based)")
    square = dims[:, 1] == dims[:, 2]
    if not square.all():
        i = np.flatnonzero(~square)[0]
        raise TomoDrgnInputError(f"image stack {paths[i]} holds non-square images ({dims[i, 2]}x{dims[i, 1]})",
                                 path=star_path, row=int(rows[i]), fix="re-extract with a square box")
    odd = dims[:, 2] != dims[0, 2]
    if odd.any():
        i = np.flatnonzero(odd)[0]
        raise TomoDrgnInputError(f"mixed box sizes: {paths[i]} has box {dims[i, 2]}, {paths[0]} has {dims[0, 2]}",
                                 path=star_path, row=int(rows[i]),
                                 fix="re-extract all particles at one box size, or train them separately")
    return int(dims[0, 2])


class StackReader:
    """Reads slices from many stacks through cached ``mrcfile.mmap`` handles."""

    def __init__(self, max_open: int = 256):
        self.max_open = max_open
        self._handles: OrderedDict[str, mrcfile.mrcmemmap.MrcMemmap] = OrderedDict()

    def _open(self, path: str):
        mrc = self._handles.pop(path, None)
        if mrc is None:
            with quiet_mrc():
                mrc = mrcfile.mmap(path, mode="r", permissive=True)
            while len(self._handles) >= self.max_open:
                self._handles.popitem(last=False)[1].close()
        self._handles[path] = mrc  # most recently used last
        return mrc

    def read(self, paths: np.ndarray, indices: np.ndarray, labels: np.ndarray | None = None,
             star_path=None) -> np.ndarray:
        """float32 (n, D, D) images for the given (stack path, 0-based slice) pairs, in the given order.

        NaN/inf pixels raise naming the stack and slice, and the STAR file and row (``labels``) that point at it.
        """
        paths = np.asarray(paths, dtype=object)
        indices = np.asarray(indices, dtype=np.int64)
        out = None
        uniq, inverse = np.unique(paths, return_inverse=True)
        for k, path in enumerate(uniq):
            where = np.flatnonzero(inverse == k)
            data = self._open(path).data
            if data.ndim == 2:
                data = data[None]
            block = np.asarray(data[indices[where]], dtype=np.float32)
            if out is None:
                out = np.empty((len(paths),) + block.shape[1:], dtype=np.float32)
            out[where] = block
            bad = ~np.isfinite(block).all(axis=(1, 2))
            if bad.any():
                j = where[np.flatnonzero(bad)[0]]
                raise TomoDrgnInputError(f"slice {indices[j] + 1} of image stack {path} contains NaN/inf pixels",
                                         path=star_path or path, row=None if labels is None else int(labels[j]),
                                         fix="re-extract this particle or drop it with a subset")
        if out is None:
            return np.empty((0, 0, 0), dtype=np.float32)
        return out

    def close(self) -> None:
        while self._handles:
            self._handles.popitem()[1].close()

    def __getstate__(self):  # handles do not travel to worker processes; they reopen lazily
        return {"max_open": self.max_open}

    def __setstate__(self, state):
        self.__init__(state["max_open"])

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
