"""A trained VAE run as the checks see it: an epoch's latent means, which STAR particle each row is, the config,
and the particles themselves (the trained STAR, re-read on demand)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TomoDrgnInputError


@dataclass
class TrainedRun:
    workdir: Path
    epoch: int
    z: np.ndarray          # (N, zdim) latent means of the epoch, z-file order
    star_rows: np.ndarray  # (N,) 0-based particle row of the trained STAR of each z row
    config: dict
    subset: bool = False   # trained with --ind (particle_rows.txt): star_rows is not 0..N-1
    logvar: np.ndarray | None = None  # (N, zdim) posterior log-variances (z.{epoch}.train.npz), when written

    @property
    def name(self) -> str:
        return f"{self.workdir} epoch {self.epoch}"

    @property
    def box(self) -> int:
        return int(self.config["model"]["box"])

    @property
    def pixel_size(self) -> float:
        return float(self.config["dataset"]["pixel_size"])

    @property
    def star(self) -> Path | None:
        path = (self.config.get("dataset") or {}).get("particles")
        return Path(path) if path else None

    def particles(self, star=None, datadir=None, source_software=None):
        """The trained STAR's ParticleSet (``star`` / ``datadir``: the same particles moved elsewhere), checked to
        hold every particle this run's z rows name."""
        from ..io import load_particles

        data = self.config.get("dataset") or {}
        path = star or data.get("particles")
        if not path:
            raise TomoDrgnInputError("config.yaml names no particles STAR", path=self.workdir / "config.yaml",
                                     fix="give --particles STAR (the STAR this run was trained on)")
        if star is None and not Path(path).is_file():
            raise TomoDrgnInputError("the STAR this run was trained on is not there any more", path=path,
                                     fix="give --particles (and --datadir) where the particles are now")
        ps = load_particles(path, source_software or data.get("source_software") or "auto",
                            datadir if datadir is not None else data.get("datadir"))
        # a run trained on the whole STAR has one z row per particle; one trained with --ind names its rows
        if ps.n_particles <= int(self.star_rows.max()) or (not self.subset and ps.n_particles != len(self.z)):
            raise TomoDrgnInputError(f"{ps.n_particles} particles for the {len(self.z)} rows of z of this run",
                                     path=path, fix=f"give the STAR {self.workdir} was trained on")
        if ps.box != self.box:
            raise TomoDrgnInputError(f"images of box {ps.box}, the model was trained at box {self.box}", path=path,
                                     fix="give the STAR the run was trained on (same box: downsample it first)")
        return ps

    def particle_ids(self, star=None, datadir=None) -> np.ndarray:
        """The particle ID (rlnGroupName, rlnTomoParticleName, ...) of each z row."""
        from ..io import schema as S

        ps = self.particles(star, datadir)
        first = ps.row_offsets[:-1]
        return ps.table[S.PARTICLE_ID].to_numpy(dtype=object)[first][self.star_rows].astype(str)


def load_run(workdir, epoch: int) -> TrainedRun:
    """The run's z of ``epoch`` (-1: the last saved) with their STAR rows; a train_nn run is refused."""
    from .analyze import read_particle_rows
    from .rundir import load_logvar, load_z, read_config, resolve_epoch

    workdir = Path(workdir)
    cfg = read_config(workdir) if workdir.is_dir() else {}
    if workdir.is_dir() and not (cfg.get("model") or {}).get("zdim"):
        raise TomoDrgnInputError("this is a train_nn (homogeneous) run: it has no latent space", path=workdir,
                                 fix="give the -o folder of train_vae")
    epoch = resolve_epoch(workdir, epoch)
    z = load_z(workdir, epoch)
    rows = read_particle_rows(workdir, len(z))
    return TrainedRun(workdir, epoch, z, np.arange(len(z)) if rows is None else rows, cfg, rows is not None,
                      load_logvar(workdir, epoch, len(z)))
