"""load_particles: any supported STAR -> ParticleSet."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import TomoDrgnInputError
from . import _schema as S
from ._detect import detect_source, relion5_files
from ._particleset import ParticleSet
from ._paths import resolve_stacks
from ._relion5 import read_relion5
from ._stacks import check_stacks
from ._star import read_star
from ._warp import image_block, read_warp

SOURCE_CHOICES = ("auto",) + S.SOURCES


def load_particles(star_path, source_software: str = "auto", datadir=None, tomograms_star=None) -> ParticleSet:
    """Read a Warp/M or cryoSRPNT image-series STAR, or a RELION 5 optimisation set / particles STAR.

    ``source_software``: 'auto' (detect by required columns) or one of 'warp', 'cryosrpnt', 'relion5'.
    ``datadir``: extra folder for relative stack paths. ``tomograms_star``: RELION 5 tomograms STAR when
    a particles STAR is given and neither an optimisation set nor a single *_tomograms.star sits beside it.
    """
    if source_software not in SOURCE_CHOICES:
        raise TomoDrgnInputError(f"unknown source software '{source_software}'", path=star_path,
                                 fix=f"use one of {', '.join(SOURCE_CHOICES)}")
    if datadir is not None and not Path(datadir).is_dir():  # a mistyped folder used to be ignored silently
        raise TomoDrgnInputError("datadir is not an existing folder", path=datadir,
                                 fix="pass the folder that holds the image stacks (--datadir), or leave it out")
    blocks = read_star(star_path)
    source = detect_source(blocks, star_path) if source_software == "auto" else source_software
    if source == "relion5":
        particles_path, pblocks, tomos_path, opt_path = relion5_files(star_path, blocks, tomograms_star)
        table = read_relion5(pblocks, particles_path, read_star(tomos_path), tomos_path)
        rows = table[S.SOURCE_ROW].to_numpy() + 1
        stack_star = particles_path
        origin = {"particle_blocks": pblocks, "particles_path": particles_path, "tomograms_path": tomos_path,
                  "optimisation_set": opt_path, "image_block": image_block(pblocks)}
    else:
        table = read_warp(blocks, star_path)
        rows = table[S.SOURCE_IMAGE_ROW].to_numpy() + 1
        stack_star = star_path
        origin = {"blocks": blocks, "image_block": image_block(blocks), "has_ctf": table.attrs.get("has_ctf", True)}
    table[S.IMAGE_PATH] = resolve_stacks(table[S.IMAGE_PATH].to_numpy(dtype=object), stack_star, datadir, rows)
    _check_pixel_size(table, stack_star, rows)
    _check_finite(table, stack_star, rows)
    table[S.BOX] = check_stacks(table[S.IMAGE_PATH].to_numpy(dtype=object), table[S.IMAGE_INDEX].to_numpy(),
                                stack_star, rows)
    if S.CTF_PREMULTIPLIED not in table:
        table[S.CTF_PREMULTIPLIED] = False
    return ParticleSet(table[S.ALL_COLUMNS], source, star_path, origin)


# canonical columns that must hold finite numbers (a NaN defocus gives an all-NaN map and a NaN loss, silently)
FINITE_COLUMNS = [S.ROT, S.TILT, S.PSI, S.SHIFT_X, S.SHIFT_Y, S.DEFOCUS_U, S.DEFOCUS_V, S.DEFOCUS_ANGLE, S.VOLTAGE,
                  S.CS, S.AMP_CONTRAST, S.PHASE_SHIFT, S.DOSE, S.TILT_WEIGHT]


# the STAR columns each canonical column comes from (RELION 5: per-tilt values from the tomograms STAR)
STAR_COLUMNS = {S.ROT: "rlnAngleRot", S.TILT: "rlnAngleTilt", S.PSI: "rlnAnglePsi",
                S.SHIFT_X: "rlnOriginX/rlnOriginXAngst", S.SHIFT_Y: "rlnOriginY/rlnOriginYAngst",
                S.DEFOCUS_U: "rlnDefocusU", S.DEFOCUS_V: "rlnDefocusV", S.DEFOCUS_ANGLE: "rlnDefocusAngle",
                S.VOLTAGE: "rlnVoltage", S.CS: "rlnSphericalAberration", S.AMP_CONTRAST: "rlnAmplitudeContrast",
                S.PHASE_SHIFT: "rlnPhaseShift", S.DOSE: "rlnCtfBfactor/rlnMicrographPreExposure",
                S.TILT_WEIGHT: "rlnCtfScalefactor"}


def _check_finite(table, star_path, rows) -> None:
    values = table[FINITE_COLUMNS].to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = (int(k[0]) for k in np.nonzero(bad))
        col = FINITE_COLUMNS[j]
        raise TomoDrgnInputError(f"{STAR_COLUMNS.get(col, col)} is {values[i, j]} (not a finite number)", path=star_path,
                                 row=int(rows[i]), fix="correct the value (RELION 5: per-tilt values live in the "
                                                       "tomograms STAR), or remove the particle")


def _check_pixel_size(table, star_path, rows) -> None:
    px = table[S.PIXEL_SIZE].to_numpy(np.float64)
    bad = ~np.isfinite(px) | (px <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TomoDrgnInputError(f"invalid pixel size {px[i]}", path=star_path, row=int(rows[i]),
                                 fix="set rlnImagePixelSize (A/px) for every particle")
    odd = np.abs(px - px[0]) > 1e-4 * px[0]
    if odd.any():
        i = int(np.flatnonzero(odd)[0])
        raise TomoDrgnInputError(f"mixed pixel sizes: {px[i]:g} A/px here, {px[0]:g} A/px in the first row",
                                 path=star_path, row=int(rows[i]),
                                 fix="rescale all particles to one pixel size, or train them separately")
