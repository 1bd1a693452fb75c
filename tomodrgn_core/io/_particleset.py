"""ParticleSet: the canonical table + lazy image access + subset/write in the source's own format."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import TomoDrgnInputError
from . import _schema as S
from ._stacks import StackReader


class ParticleSet:
    """Particles of one STAR file. ``table`` has one row per (visible) tilt image, rows of a particle
    contiguous, ``particle_index`` 0..N-1. Images are read lazily (memory-mapped) by :meth:`images`.

    ``origin`` keeps what is needed to write a subset in the SAME format as the input (private).
    """

    def __init__(self, table: pd.DataFrame, source: str, star_path, origin: dict | None = None,
                 reader: StackReader | None = None):
        self.table = table.reset_index(drop=True)
        self.source = source
        self.star_path = Path(star_path)
        self.origin = origin or {}
        self._reader = reader or StackReader()
        pidx = self.table[S.PARTICLE_INDEX].to_numpy(np.int64)
        self.ntilts = np.bincount(pidx, minlength=int(pidx.max()) + 1 if len(pidx) else 0).astype(np.int64)
        self.row_offsets = np.r_[0, np.cumsum(self.ntilts)].astype(np.int64)

    # -- sizes -------------------------------------------------------------------------------------
    @property
    def n_particles(self) -> int:
        return len(self.ntilts)

    @property
    def box(self) -> int:
        return int(self.table[S.BOX].iloc[0]) if len(self.table) else 0

    @property
    def pixel_size(self) -> float:
        return float(self.table[S.PIXEL_SIZE].iloc[0]) if len(self.table) else 0.0

    @property
    def has_ctf(self) -> bool:
        """False for a STAR without any CTF or exposure column (a noise-free simulation): use it with --no-ctf."""
        return bool(self.origin.get("has_ctf", True))

    def require_ctf(self, flag: str | None = "--no-ctf") -> None:
        """One-line error for a CTF-free STAR used where a CTF is needed (``flag``: the option that allows it)."""
        if not self.has_ctf:
            fix = f"pass {flag} to use it without CTF and exposure, or add the CTF columns" if flag else \
                "add the CTF and exposure columns; to check the poses of a noise-free set, use backproject_voxel --no-ctf"
            raise TomoDrgnInputError("this STAR has no CTF or exposure columns (rlnDefocusU, rlnVoltage, "
                                     "rlnSphericalAberration, rlnAmplitudeContrast, rlnCtfBfactor)", path=self.star_path,
                                     fix=fix)

    def __len__(self) -> int:
        return self.n_particles

    def __repr__(self) -> str:
        return (f"ParticleSet({self.n_particles} particles, {len(self.table)} tilt images, box {self.box}, "
                f"{self.pixel_size:g} A/px, source {self.source}, {self.star_path})")

    # -- images --------------------------------------------------------------------------------------
    def close_stacks(self) -> None:
        """Unmap every open stack (pages read so far leave this process's resident memory); reads reopen them."""
        self._reader.close()

    def images(self, rows) -> np.ndarray:
        """float32 (n, D, D) images of the given table rows, as stored (no inversion, no shift)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) == 0:
            return np.empty((0, self.box, self.box), dtype=np.float32)
        paths = self.table[S.IMAGE_PATH].to_numpy(dtype=object)[rows]
        index = self.table[S.IMAGE_INDEX].to_numpy(np.int64)[rows]
        # errors name the STAR row that points at a bad image: RELION 5 has one row per particle
        relion5 = self.source == "relion5"
        star_rows = self.table[S.SOURCE_ROW if relion5 else S.SOURCE_IMAGE_ROW].to_numpy(np.int64)[rows] + 1
        star = (self.origin or {}).get("particles_path", self.star_path) if relion5 else self.star_path
        return self._reader.read(paths, index, labels=star_rows, star_path=star)

    def particle_rows(self, i: int) -> np.ndarray:
        return np.arange(self.row_offsets[i], self.row_offsets[i + 1])

    # -- subsets -------------------------------------------------------------------------------------
    def subset(self, particles) -> "ParticleSet":
        """Keep particles by index array or boolean mask (original order kept, particle_index renumbered)."""
        keep = _as_indices(particles, self.n_particles, self.star_path)
        mask = np.zeros(self.n_particles, dtype=bool)
        mask[keep] = True
        pidx = self.table[S.PARTICLE_INDEX].to_numpy(np.int64)
        table = self.table[mask[pidx]].copy()
        new_index = np.cumsum(mask) - 1
        table[S.PARTICLE_INDEX] = new_index[table[S.PARTICLE_INDEX].to_numpy(np.int64)]
        return ParticleSet(table, self.source, self.star_path, self.origin, self._reader)

    def write(self, path, overwrite: bool = False, relative_paths: bool = False, project_dir=None) -> list[Path]:
        """Write these particles in the format they were read from; returns the files written.

        Warp/cryoSRPNT: the source STAR's rows of these particles. RELION 5: ``path`` is the particles
        STAR (filtered), with ``<stem>_tomograms.star`` (copied) and ``<stem>_optimisation_set.star``
        beside it (a path ending in ``_optimisation_set.star`` names the optimisation set instead).
        Stack paths are absolute, or with ``relative_paths`` relative to the new file (Warp, cryoSRPNT), or for
        RELION 5 relative to ``project_dir``, the RELION project folder RELION resolves them from (the new
        file's folder if None).
        """
        from ._write_subset import write_relion5_subset, write_warp_subset
        if self.source == "relion5":
            return write_relion5_subset(self, path, overwrite, relative_paths, project_dir)
        return write_warp_subset(self, path, overwrite, relative_paths)


def _as_indices(particles, n: int, where) -> np.ndarray:
    arr = np.asarray(particles)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise TomoDrgnInputError(f"boolean selection has {arr.size} entries for {n} particles", path=where,
                                     fix="give one True/False per particle, in input order")
        return np.flatnonzero(arr)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TomoDrgnInputError(f"particle selection must be integer indices or a boolean mask, got {arr.dtype}",
                                 path=where, fix="give 0-based particle indices")
    arr = arr.astype(np.int64).reshape(-1)
    bad = arr[(arr < 0) | (arr >= n)]
    if len(bad):
        raise TomoDrgnInputError(f"particle index {bad[0]} is out of range (0..{n - 1})", path=where,
                                 fix="give 0-based particle indices of this STAR file")
    return np.unique(arr)


def as_path(p) -> Path:
    return Path(os.fspath(p))
