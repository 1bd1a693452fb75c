"""prepare_image_series: several tilt series + particle positions/poses -> one image-series STAR + .mrcs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import TomoDrgnInputError
from ..io import _schema as S
from ..io._write import write_image_series
from ._extract import extract_particle_tilts
from ._geometry import TiltGeometry, project_positions
from ._table import build_image_series_table


@dataclass
class TomogramParticles:
    """The particles of one tomogram and its tilt series."""
    tomo_id: str
    stack: object             # (nt, H, W) array or mmap of the raw tilt images
    geometry: TiltGeometry
    coords_px: np.ndarray     # (n, 3) px at the tilt-series pixel size, centred on the tomogram
    poses: np.ndarray         # (n, 3, 3) particle poses (RELION matrices)
    particle_ids: list = field(default_factory=list)


@dataclass
class PrepareReport:
    star: Path
    n_particles: int            # written
    n_images: int               # written tilt images
    dropped_tilts: int          # boxes leaving their tilt image
    dropped_particles: list     # ids of particles with no tilt left (not written)
    table: pd.DataFrame         # the written (visible) rows, particle_index renumbered 0..N-1


def prepare_image_series(tomograms: list[TomogramParticles], box: int, out_star, binning: int = 1,
                         invert: bool = True, normalise: bool = True, defocus_hand: float = 0.0,
                         voltage: float = 300.0, cs: float = 2.7, amp_contrast: float = 0.1,
                         overwrite: bool = False) -> PrepareReport:
    tables, images, dropped_ids, dropped = [], [], [], 0
    for tp in tomograms:
        if len(tp.coords_px) == 0:
            continue
        if len(tp.geometry.tilt_angles) != tp.stack.shape[0]:
            raise TomoDrgnInputError(f"tilt series of '{tp.tomo_id}' has {tp.stack.shape[0]} images but "
                                     f"{len(tp.geometry.tilt_angles)} tilt angles", path=out_star,
                                     fix="give the tilt angles, transforms and dose of every tilt image")
        pos = project_positions(tp.coords_px, tp.geometry)
        ext = extract_particle_tilts(tp.stack, pos, box, binning, invert, normalise)
        dropped += ext.n_dropped
        ids = tp.particle_ids or [f"{tp.tomo_id}/{i + 1}" for i in range(len(tp.coords_px))]
        t = build_image_series_table(tp.geometry, tp.poses, tp.coords_px, ext, tp.tomo_id, ids, 0, voltage, cs,
                                     amp_contrast, defocus_hand)
        t[S.PARTICLE_ID] = t[S.PARTICLE_ID].astype(str)
        none_left = ~ext.visible.any(1)
        dropped_ids += [str(ids[i]) for i in np.flatnonzero(none_left)]
        tables.append(t)
        images.append(ext.images.reshape(-1, ext.box, ext.box))
    if not tables:
        raise TomoDrgnInputError("no particles to extract", path=out_star, fix="give coordinates on these tilt series")
    table = pd.concat(tables, ignore_index=True)
    imgs = np.concatenate(images)
    keep = table[S.VISIBLE].to_numpy(bool)
    table, imgs = table[keep].reset_index(drop=True), imgs[keep]
    if not len(table):
        raise TomoDrgnInputError("every particle box leaves its tilt images", path=out_star,
                                 fix="use a smaller box or check that coordinates and tilt series match")
    # one particle_index per (tomogram, particle) in order, contiguous
    key = table[S.TOMO_ID].astype(str) + "\x00" + table[S.PARTICLE_ID].astype(str)
    table[S.PARTICLE_INDEX] = pd.factorize(key)[0]
    table[S.IMAGE_INDEX] = np.arange(len(table))
    star = write_image_series(table, imgs, out_star, overwrite=overwrite)
    return PrepareReport(Path(star), int(table[S.PARTICLE_INDEX].max()) + 1, len(table), dropped, dropped_ids, table)
