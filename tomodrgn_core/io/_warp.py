"""Warp/M (and cryoSRPNT) image-series STAR -> canonical table.

One row per tilt image; ``rlnGroupName`` = tomogram_particle groups the tilts of one particle;
``rlnImageName`` = index@stack (1-based); dose = -rlnCtfBfactor/4; tilt weight = rlnCtfScalefactor.
A RELION 3.1 style ``data_optics`` block is merged by ``rlnOpticsGroup``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import TomoDrgnInputError
from . import _schema as S
from ._star import check_numeric, missing_columns_error

REQUIRED = ["rlnGroupName", "rlnImageName", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnCtfScalefactor"]
# a file with none of these (cryoSRPNT's noise-free sets) is read without CTF and exposure: it needs --no-ctf
CTF_REQUIRED = ["rlnDefocusU", "rlnVoltage", "rlnSphericalAberration", "rlnAmplitudeContrast", "rlnCtfBfactor"]
PIXEL_SIZE_OPTIONS = ("rlnImagePixelSize", "rlnPixelSize", "rlnDetectorPixelSize")
SHIFT_PAIRS = [("rlnOriginX", "rlnOriginY"), ("rlnOriginXAngst", "rlnOriginYAngst")]
# a signed stage tilt column, when the writer kept one (ours does)
TILT_COLUMNS = ("rlnTomoNominalStageTiltAngle", "rlnTiltAngle")
FIX = "export the particles as a Warp/M image-series STAR (rlnGroupName, rlnImageName, angles, CTF, " \
      "rlnCtfBfactor, rlnCtfScalefactor), or use --source-software relion5 for RELION 5 sets"


def image_block(blocks: dict) -> str | None:
    """Name of the block holding the tilt images (the one with rlnImageName), or None."""
    for name, block in blocks.items():
        if isinstance(block, pd.DataFrame) and "rlnImageName" in block.columns:
            return name
    return None


def merged_rows(blocks: dict, star_path) -> tuple[str, pd.DataFrame]:
    """The image block with optics columns merged in (row order kept)."""
    name = image_block(blocks)
    if name is None:
        raise missing_columns_error(star_path, "particles", ["rlnImageName"], FIX)
    df = blocks[name]
    if len(df) == 0:
        raise TomoDrgnInputError(f"data_{name} has no rows", path=star_path, fix="re-export the particles")
    check_numeric(df, star_path, name)
    optics = blocks.get("optics")
    if isinstance(optics, pd.DataFrame):
        check_numeric(optics, star_path, "optics")
    if isinstance(optics, pd.DataFrame) and "rlnOpticsGroup" in df.columns and "rlnOpticsGroup" in optics.columns:
        extra = [c for c in optics.columns if c not in df.columns or c == "rlnOpticsGroup"]
        merged = df.merge(optics[extra], on="rlnOpticsGroup", how="left", sort=False)
        merged.index = df.index
        lost = merged[extra[1:]].isna().all(axis=1).to_numpy() if len(extra) > 1 else np.zeros(len(df), bool)
        if lost.any():
            i = int(np.flatnonzero(lost)[0])
            raise TomoDrgnInputError(f"rlnOpticsGroup {df['rlnOpticsGroup'].iloc[i]} is not in data_optics",
                                     path=star_path, row=i + 1, fix="add the optics group or fix the particle row")
        df = merged
    return name, df


def pixel_size(df: pd.DataFrame) -> np.ndarray | None:
    if "rlnImagePixelSize" in df:
        return df["rlnImagePixelSize"].to_numpy(np.float64)
    if "rlnPixelSize" in df:
        return df["rlnPixelSize"].to_numpy(np.float64)
    if "rlnDetectorPixelSize" in df and "rlnMagnification" in df:
        return df["rlnDetectorPixelSize"].to_numpy(np.float64) * 1e4 / df["rlnMagnification"].to_numpy(np.float64)
    if "rlnDetectorPixelSize" in df:  # Warp and cryoSRPNT write the image pixel size here, without a magnification
        return df["rlnDetectorPixelSize"].to_numpy(np.float64)
    return None


def check_shift_pairs(df: pd.DataFrame, star_path, pairs=SHIFT_PAIRS) -> None:
    """Half a shift (X without Y, or Y without X) would be read as a zero on the missing axis: refuse it."""
    for x, y in pairs:
        if (x in df) != (y in df):
            have, lack = (x, y) if x in df else (y, x)
            raise TomoDrgnInputError(f"_{have} without _{lack}: half an origin shift", path=star_path,
                                     fix=f"add the _{lack} column (0 where there is no shift) or remove _{have}")


def check_unique_images(stacks: np.ndarray, index: np.ndarray, names: pd.Series, star_path) -> None:
    """The same tilt image listed twice (e.g. a STAR concatenated with itself) would be trained on twice."""
    key = pd.Series(stacks.astype(str)) + "@" + pd.Series(index.astype(str))
    dup = key.duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = rows[key.iloc[rows].to_numpy() == key.iloc[rows[0]]]
        raise TomoDrgnInputError(f"tilt image '{names.iloc[first[0]]}' is listed {len(first)} times (rows "
                                 f"{', '.join(str(r + 1) for r in first[:5])}); {dup.sum()} rows repeat an image",
                                 path=star_path, row=int(first[1]) + 1,
                                 fix="remove the repeated rows (each tilt image belongs to one particle, once)")


def split_image_name(names: pd.Series, star_path) -> tuple[np.ndarray, np.ndarray]:
    """'index@stack' -> (stack names, 0-based indices)."""
    parts = names.astype(str).str.split("@", n=1, expand=True)
    if parts.shape[1] < 2 or parts[1].isna().any():
        i = int(np.flatnonzero(parts[1].isna().to_numpy())[0]) if parts.shape[1] == 2 else 0
        raise TomoDrgnInputError(f"rlnImageName '{names.iloc[i]}' is not index@stack", path=star_path, row=i + 1,
                                 fix="write rlnImageName as 000001@stack.mrcs")
    idx = pd.to_numeric(parts[0], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(idx) | (idx != np.round(idx))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TomoDrgnInputError(f"rlnImageName '{names.iloc[i]}' has no integer index", path=star_path, row=i + 1,
                                 fix="write rlnImageName as 000001@stack.mrcs")
    low = np.flatnonzero(idx < 1)  # a 0-based index: say so, rather than 'past the end' of the stack
    if len(low):
        i = int(low[0])
        raise TomoDrgnInputError(f"rlnImageName '{names.iloc[i]}' has image index {int(idx[i])}; image indices "
                                 "are 1-based (the first image of a stack is 000001)", path=star_path, row=i + 1,
                                 fix="renumber the indices from 1 (add 1 to 0-based indices)")
    return parts[1].to_numpy(dtype=object), idx.astype(np.int64) - 1


def read_warp(blocks: dict, star_path) -> pd.DataFrame:
    """Canonical table (without image_path resolution / box, done by the loader; stack names in image_path)."""
    _, df = merged_rows(blocks, star_path)
    missing = [c for c in REQUIRED if c not in df.columns]
    has_ctf = any(c in df.columns for c in CTF_REQUIRED)
    if has_ctf:  # some CTF/exposure columns but not all: a broken export, not a CTF-free simulation
        missing += [c for c in CTF_REQUIRED if c not in df.columns]
    px = pixel_size(df)
    if px is None:
        missing.append(" or _".join(PIXEL_SIZE_OPTIONS))
    if missing:
        raise missing_columns_error(star_path, "particles", missing, FIX)

    # particles = groups in order of first appearance; their rows made contiguous (stable)
    stacks, index = split_image_name(df["rlnImageName"], star_path)  # errors name the original row
    check_unique_images(stacks, index, df["rlnImageName"], star_path)
    check_shift_pairs(df, star_path)
    group = df["rlnGroupName"].astype(str).to_numpy(dtype=object)
    codes, _ = pd.factorize(group, sort=False)
    order = np.argsort(codes, kind="stable")
    df = df.iloc[order].reset_index(drop=True)
    codes, px, group, stacks, index = codes[order], px[order], group[order], stacks[order], index[order]
    n = len(df)
    col = lambda c, default=0.0: df[c].to_numpy(np.float64) if c in df else np.full(n, default)  # noqa: E731
    if "rlnOriginXAngst" in df:
        sx, sy = col("rlnOriginXAngst"), col("rlnOriginYAngst")
    else:
        sx, sy = col("rlnOriginX") * px, col("rlnOriginY") * px
    scale = col("rlnCtfScalefactor")
    tilt_col = next((c for c in TILT_COLUMNS if c in df), None)
    tilt_angle = col(tilt_col) if tilt_col else np.degrees(np.arccos(np.clip(scale, -1.0, 1.0)))
    if "rlnTomoName" in df:
        tomo = df["rlnTomoName"].astype(str).to_numpy(dtype=object)
    elif "rlnMicrographName" in df:
        tomo = df["rlnMicrographName"].astype(str).to_numpy(dtype=object)
    else:  # Warp: tomogram_particle
        tomo = pd.Series(group).str.rsplit("_", n=1).str[0].to_numpy(dtype=object)
    starts = np.r_[0, np.flatnonzero(np.diff(codes)) + 1]
    frame = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    if "rlnCenteredCoordinateXAngst" in df:
        coords = [col(f"rlnCenteredCoordinate{a}Angst") for a in "XYZ"]
    elif "rlnCoordinateX" in df and "rlnTomoTiltSeriesPixelSize" in df:
        coords = [col(f"rlnCoordinate{a}", np.nan) * col("rlnTomoTiltSeriesPixelSize") for a in "XYZ"]
    else:
        coords = [np.full(n, np.nan)] * 3
    table = pd.DataFrame({
        S.PARTICLE_INDEX: codes.astype(np.int64), S.PARTICLE_ID: group, S.TOMO_ID: tomo,
        S.IMAGE_PATH: stacks, S.IMAGE_INDEX: index, S.PIXEL_SIZE: px, S.BOX: np.zeros(n, np.int64),
        S.ROT: col("rlnAngleRot"), S.TILT: col("rlnAngleTilt"), S.PSI: col("rlnAnglePsi"),
        S.SHIFT_X: sx, S.SHIFT_Y: sy,
        S.DEFOCUS_U: col("rlnDefocusU"), S.DEFOCUS_V: col("rlnDefocusV") if "rlnDefocusV" in df else col("rlnDefocusU"),
        S.DEFOCUS_ANGLE: col("rlnDefocusAngle"), S.VOLTAGE: col("rlnVoltage", 300.0), S.CS: col("rlnSphericalAberration"),
        S.AMP_CONTRAST: col("rlnAmplitudeContrast"), S.PHASE_SHIFT: col("rlnPhaseShift"),
        S.DOSE: -col("rlnCtfBfactor") / 4.0 if has_ctf else np.zeros(n), S.TILT_ANGLE: tilt_angle, S.TILT_WEIGHT: scale,
        S.VISIBLE: np.ones(n, dtype=bool),
        S.COORD_X: coords[0], S.COORD_Y: coords[1], S.COORD_Z: coords[2],
        S.SOURCE_ROW: codes.astype(np.int64), S.SOURCE_IMAGE_ROW: order.astype(np.int64),
        S.FRAME: frame.astype(np.int64), S.CTF_PREMULTIPLIED: col("rlnCtfDataAreCtfPremultiplied") > 0.5,
    })
    table.attrs["has_ctf"] = has_ctf  # False: no CTF or exposure columns (the loader's callers need --no-ctf)
    return table
