"""The canonical particle table (tomodrgn_core/io/_schema.py) of particles extracted from tilt series."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..io import _schema as S
from ..physics._rotations import matrix_to_euler
from ._extract import ExtractedTilts
from ._geometry import TiltGeometry, depth, particle_tilt_poses


def build_image_series_table(geom: TiltGeometry, A_particles: np.ndarray, coords_px: np.ndarray,
                             extracted: ExtractedTilts, tomo_id: str, particle_ids=None, first_index: int = 0,
                             voltage: float = 300.0, cs: float = 2.7, amp_contrast: float = 0.1,
                             defocus_hand: float = 0.0) -> pd.DataFrame:
    """One row per (particle, tilt) in particle-major, tilt-frame order, ALL tilts (``visible`` marks the kept
    ones; write_image_series drops the rest). Poses A_f = R_f @ A_p as RELION Eulers, origins in A at the output
    pixel size, per-tilt CTF and dose, tilt_weight = cos(tilt). ``defocus_hand`` (+1/-1, 0 = off) adds
    hand * depth * pixel size to the defocus of each tilt (particle height along the beam, RELION's per-particle
    defocus); coordinates are written in A, centred (RELION 5's rlnCenteredCoordinate*Angst)."""
    n, nt = extracted.visible.shape
    px_out = geom.pixel_size * extracted.binning
    A = particle_tilt_poses(A_particles, geom).reshape(-1, 3, 3)
    eul = matrix_to_euler(A)
    p = np.repeat(np.arange(n), nt)
    f = np.tile(np.arange(nt), n)
    dz = depth(coords_px, geom).reshape(-1) * geom.pixel_size * defocus_hand
    ids = np.asarray(particle_ids if particle_ids is not None else [f"{tomo_id}/{i + 1}" for i in range(n)], object)
    coords_a = np.asarray(coords_px, float) * geom.pixel_size
    tilt = np.asarray(geom.tilt_angles, float)[f]
    origins = extracted.origins.reshape(-1, 2) * px_out
    return pd.DataFrame({
        S.PARTICLE_INDEX: p + first_index, S.PARTICLE_ID: ids[p], S.TOMO_ID: tomo_id, S.IMAGE_PATH: "",
        S.IMAGE_INDEX: np.arange(n * nt), S.PIXEL_SIZE: px_out, S.BOX: extracted.box,
        S.ROT: eul[:, 0], S.TILT: eul[:, 1], S.PSI: eul[:, 2], S.SHIFT_X: origins[:, 0], S.SHIFT_Y: origins[:, 1],
        S.DEFOCUS_U: np.asarray(geom.defocus_u, float)[f] + dz, S.DEFOCUS_V: np.asarray(geom.defocus_v, float)[f] + dz,
        S.DEFOCUS_ANGLE: np.asarray(geom.defocus_angle, float)[f], S.VOLTAGE: voltage, S.CS: cs,
        S.AMP_CONTRAST: amp_contrast, S.PHASE_SHIFT: 0.0, S.DOSE: np.asarray(geom.dose, float)[f],
        S.TILT_ANGLE: tilt, S.TILT_WEIGHT: np.cos(np.deg2rad(tilt)), S.VISIBLE: extracted.visible.reshape(-1),
        S.COORD_X: coords_a[p, 0], S.COORD_Y: coords_a[p, 1], S.COORD_Z: coords_a[p, 2], S.FRAME: f,
    })
