"""write_image_series: canonical table + images -> our Warp-style image-series STAR + one .mrcs."""
from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd

from ..errors import TomoDrgnInputError
from . import _schema as S
from ._star import check_writable, write_star


def write_image_series(table: pd.DataFrame, images: np.ndarray, out_star, overwrite: bool = False) -> Path:
    """Write ``out_star`` and ``<stem>.mrcs`` beside it (voxel size set); returns the STAR path.

    ``images`` is float32-convertible (n, D, D) aligned with ``table`` rows. Rows with ``visible`` False
    are left out (with their images). Reading the result with ``load_particles`` gives the same table
    (image_path/image_index and source rows aside).
    """
    out_star = Path(out_star)
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[0] != len(table) or images.shape[1] != images.shape[2]:
        raise TomoDrgnInputError(f"images of shape {images.shape} do not match {len(table)} table rows of square "
                                 "images", path=out_star, fix="pass an (n_rows, D, D) array aligned with the table")
    missing = [c for c in S.REQUIRED if c not in table.columns and c not in (S.IMAGE_PATH, S.IMAGE_INDEX, S.BOX)]
    if missing:
        raise TomoDrgnInputError(f"table lacks column(s) {', '.join(missing)}", path=out_star,
                                 fix="build the table with the columns of tomodrgn_core.io._schema.REQUIRED")
    if S.VISIBLE in table:
        keep = table[S.VISIBLE].to_numpy(bool)
        table, images = table[keep], images[keep]
    stack = out_star.with_suffix(".mrcs")
    check_writable(out_star, overwrite)
    check_writable(stack, overwrite)
    px = table[S.PIXEL_SIZE].to_numpy(np.float64)
    if len(px) and np.abs(px - px[0]).max() > 1e-4 * px[0]:
        raise TomoDrgnInputError("mixed pixel sizes in the table", path=out_star,
                                 fix="write one image series per pixel size")
    n = len(table)
    df = pd.DataFrame({
        "rlnGroupName": table[S.PARTICLE_ID].astype(str).to_numpy(dtype=object),
        "rlnImageName": [f"{i + 1:06d}@{stack.name}" for i in range(n)],
        "rlnMicrographName": table[S.TOMO_ID].astype(str).to_numpy(dtype=object),
        "rlnTomoName": table[S.TOMO_ID].astype(str).to_numpy(dtype=object),
        "rlnAngleRot": table[S.ROT].to_numpy(float), "rlnAngleTilt": table[S.TILT].to_numpy(float),
        "rlnAnglePsi": table[S.PSI].to_numpy(float),
        "rlnOriginXAngst": table[S.SHIFT_X].to_numpy(float), "rlnOriginYAngst": table[S.SHIFT_Y].to_numpy(float),
        "rlnDefocusU": table[S.DEFOCUS_U].to_numpy(float), "rlnDefocusV": table[S.DEFOCUS_V].to_numpy(float),
        "rlnDefocusAngle": table[S.DEFOCUS_ANGLE].to_numpy(float),
        "rlnVoltage": table[S.VOLTAGE].to_numpy(float), "rlnSphericalAberration": table[S.CS].to_numpy(float),
        "rlnAmplitudeContrast": table[S.AMP_CONTRAST].to_numpy(float),
        "rlnPhaseShift": table[S.PHASE_SHIFT].to_numpy(float),
        "rlnCtfBfactor": -4.0 * table[S.DOSE].to_numpy(float),
        "rlnCtfScalefactor": table[S.TILT_WEIGHT].to_numpy(float),
        "rlnTomoNominalStageTiltAngle": table[S.TILT_ANGLE].to_numpy(float),
        "rlnImagePixelSize": px,
        # old readers (RELION 3.0, Warp-era tools) derive the pixel size from these two
        "rlnDetectorPixelSize": px, "rlnMagnification": np.full(n, 10000.0),
    })
    # carry the premultiplied flag per row: without it the readers take CTF-premultiplied images (WarpTools
    # 2D stacks, also after downsample) as raw ones and the CTF is applied twice
    premult = table[S.CTF_PREMULTIPLIED].to_numpy(bool) if S.CTF_PREMULTIPLIED in table else np.zeros(n, bool)
    df["rlnCtfDataAreCtfPremultiplied"] = premult.astype(np.int64)
    if all(c in table for c in (S.COORD_X, S.COORD_Y, S.COORD_Z)):
        xyz = table[[S.COORD_X, S.COORD_Y, S.COORD_Z]].to_numpy(float)
        if n and np.isfinite(xyz).all():
            for a, k in zip("XYZ", range(3)):
                df[f"rlnCenteredCoordinate{a}Angst"] = xyz[:, k]
    data = np.ascontiguousarray(images, dtype=np.float32)
    stack.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(stack, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.header.ispg = 0  # an image stack, not a volume
        mrc.voxel_size = float(px[0]) if n else 1.0
    write_star(out_star, {"particles": df}, overwrite=True)
    return out_star
