"""RELION 5 / WarpTools 2D-stack particles + tomograms STAR -> canonical table.

Each particle's stack holds one slice per tilt FRAME (hidden frames blank). Frame f pairs with slice f
and with row f of the tomogram's ``data_<tomo>`` block; only frames with rlnTomoVisibleFrames == 1 are
kept. Per-tilt poses and 2D origins follow the one convention of ``physics/_geometry.py``:
A_f = H R_f A_sub A_p H (H = diag(1, 1, rlnTomoHand)), origin_f = (R_f A_sub origin)[:2].
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import TomoDrgnInputError
from ..physics._geometry import tilt_origins, tilt_poses
from ..physics._rotations import euler_to_matrix, matrix_to_euler
from . import _schema as S
from ._star import check_numeric, missing_columns_error
from ._warp import merged_rows, pixel_size

PARTICLE_REQUIRED = ["rlnTomoName", "rlnImageName", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi",
                     "rlnTomoVisibleFrames"]
TOMO_REQUIRED = ["rlnTomoProjX", "rlnTomoProjY", "rlnTomoProjZ", "rlnDefocusU", "rlnCtfScalefactor",
                 "rlnMicrographPreExposure"]
FIX = "give the RELION 5 optimisation set, or the particles STAR with its *_tomograms.star beside it"


def parse_vectors(values, path, row_offset: int, what: str, length: int | None = None) -> np.ndarray:
    """'[a,b,c]' strings -> (n, k) float array; malformed entries raise naming their row."""
    out = []
    for i, v in enumerate(values):
        try:
            arr = np.array(str(v).strip().strip("[]").split(","), dtype=np.float64)
        except ValueError:
            arr = None
        if arr is None or (length is not None and len(arr) != length) or (out and len(arr) != len(out[0])):
            want = f"{length} comma-separated numbers" if length else "the same length as the rows above"
            raise TomoDrgnInputError(f"{what} '{v}' is not a list of {want}", path=path, row=row_offset + i + 1,
                                     fix="re-export the particles; the list needs one entry per tilt frame")
        out.append(arr)
    return np.stack(out)


def signed_tilt_angles(R: np.ndarray, dose: np.ndarray) -> np.ndarray:
    """Stage tilt (deg) of each frame relative to the lowest-dose frame.

    Magnitude: angle between beam directions (3rd rows of R). Sign: of (z_f x z_ref) along the tilt
    axis, the normal of the plane of z_f - z_ref, oriented along +y of the tomogram (RELION tilts about y),
    so that a rotation by +t about y gives +t.
    """
    z = R[:, 2, :] / np.linalg.norm(R[:, 2, :], axis=1, keepdims=True)
    ref = int(np.argmin(dose))
    cosang = np.clip(z @ z[ref], -1.0, 1.0)
    angle = np.degrees(np.arccos(cosang))
    diffs = z - z[ref]
    if len(z) < 2 or np.abs(diffs).max() < 1e-6:
        return angle
    axis = np.linalg.svd(diffs, full_matrices=False)[2][-1] if len(z) > 2 else np.cross(z[ref], diffs.sum(0))
    main = 1 if abs(axis[1]) > 0.1 else int(np.argmax(np.abs(axis)))
    axis = axis * np.sign(axis[main])
    sign = np.sign(np.cross(z, z[ref]) @ axis)
    return np.where(sign < 0, -angle, angle)


def _per_tomo_columns(block: pd.DataFrame, path, tomo: str):
    missing = [c for c in TOMO_REQUIRED if c not in block.columns]
    if missing:
        raise missing_columns_error(path, tomo, missing, FIX)
    check_numeric(block, path, tomo)
    R = np.stack([parse_vectors(block[c], path, 0, c, 4)[:, :3] for c in ("rlnTomoProjX", "rlnTomoProjY",
                                                                          "rlnTomoProjZ")], axis=1)
    n = len(block)
    get = lambda c, d=0.0: block[c].to_numpy(np.float64) if c in block else np.full(n, d)  # noqa: E731
    dose = get("rlnMicrographPreExposure")
    return {"R": R, "defocus_u": get("rlnDefocusU"),
            "defocus_v": get("rlnDefocusV") if "rlnDefocusV" in block else get("rlnDefocusU"),
            "defocus_angle": get("rlnDefocusAngle"), "phase_shift": get("rlnPhaseShift"),
            "tilt_weight": get("rlnCtfScalefactor"), "dose": dose,
            "tilt_angle": signed_tilt_angles(R, dose)}


def read_relion5(particle_blocks: dict, particles_path, tomo_blocks: dict, tomograms_path) -> pd.DataFrame:
    """Canonical table; image_path holds the stack names as written (resolved by the loader)."""
    block_name, df = merged_rows(particle_blocks, particles_path)
    missing = [c for c in PARTICLE_REQUIRED if c not in df.columns]
    px = pixel_size(df)
    if px is None:
        missing.append("rlnImagePixelSize (in data_optics)")
    if missing:
        raise missing_columns_error(particles_path, block_name, missing, FIX)
    glob = tomo_blocks.get("global")
    if not isinstance(glob, pd.DataFrame) or "rlnTomoName" not in glob.columns:
        raise missing_columns_error(tomograms_path, "global", ["rlnTomoName"], FIX)
    check_numeric(glob, tomograms_path, "global")
    glob = glob.set_index(glob["rlnTomoName"].astype(str))

    tomo_names = df["rlnTomoName"].astype(str).to_numpy(dtype=object)
    n_part = len(df)
    rows = np.arange(n_part)
    # particle matrices A_p (with the subtomogram pre-rotation when RELION wrote one)
    A_p = euler_to_matrix(df["rlnAngleRot"].to_numpy(float), df["rlnAngleTilt"].to_numpy(float),
                          df["rlnAnglePsi"].to_numpy(float))
    A_sub = np.broadcast_to(np.eye(3), A_p.shape)
    if "rlnTomoSubtomogramRot" in df:
        A_sub = euler_to_matrix(*(df[f"rlnTomoSubtomogram{a}"].to_numpy(float) for a in ("Rot", "Tilt", "Psi")))
    A_p = A_sub @ A_p
    # the particle's refined centre is coordinate - A_sub @ origin (RELION's ParticleSet::getPosition)
    offset = np.einsum("nij,nj->ni", A_sub, origin_angst(df, particles_path))
    ts_px = _tilt_series_pixel_size(df, glob, tomo_names)
    if "rlnCenteredCoordinateXAngst" in df:
        coords = np.stack([df[f"rlnCenteredCoordinate{a}Angst"].to_numpy(float) for a in "XYZ"], -1)
    elif "rlnCoordinateX" in df:
        coords = np.stack([df[f"rlnCoordinate{a}"].to_numpy(float) for a in "XYZ"], -1) * ts_px[:, None]
    else:
        coords = np.full((n_part, 3), np.nan)

    premultiplied = (df["rlnCtfDataAreCtfPremultiplied"].to_numpy(float) > 0.5 if "rlnCtfDataAreCtfPremultiplied" in df
                     else np.zeros(n_part, bool))
    pieces = []
    for tomo in pd.unique(tomo_names):
        sel = rows[tomo_names == tomo]
        if tomo not in tomo_blocks or not isinstance(tomo_blocks[tomo], pd.DataFrame):
            raise TomoDrgnInputError(f"tomogram '{tomo}' has no data_{tomo} block in {tomograms_path}",
                                     path=particles_path, row=int(sel[0]) + 1,
                                     fix="use the tomograms STAR exported together with these particles")
        t = _per_tomo_columns(tomo_blocks[tomo], tomograms_path, tomo)
        n_frames = len(t["dose"])
        vis = np.zeros((len(sel), n_frames), dtype=bool)
        for k, i in enumerate(sel):  # one small string per particle; the rest is vectorised
            v = parse_vectors([df["rlnTomoVisibleFrames"].iloc[i]], particles_path, int(i), "rlnTomoVisibleFrames",
                              n_frames)[0]
            vis[k] = v > 0.5
        empty = np.flatnonzero(~vis.any(axis=1))
        if len(empty):
            raise TomoDrgnInputError("particle has zero visible tilts (rlnTomoVisibleFrames all 0)",
                                     path=particles_path, row=int(sel[empty[0]]) + 1,
                                     fix="drop this particle from the STAR file")
        pk, f = np.nonzero(vis)  # row-major: a particle's frames contiguous, in frame order
        p = sel[pk]
        g = glob.loc[tomo] if tomo in glob.index else None
        hand = float(g["rlnTomoHand"]) if g is not None and "rlnTomoHand" in g.index else 1.0
        ang = matrix_to_euler(tilt_poses(t["R"][f], A_p[p], hand))
        shift = tilt_origins(t["R"][f], offset[p])
        cval = lambda c: float(g[c]) if g is not None and c in g.index else df[c].to_numpy(float)[p]  # noqa: E731
        for c in ("rlnVoltage", "rlnSphericalAberration", "rlnAmplitudeContrast"):
            if (g is None or c not in g.index) and c not in df:
                raise missing_columns_error(tomograms_path, "global", [c], FIX)
        pieces.append(pd.DataFrame({
            S.SOURCE_ROW: p, S.FRAME: f, S.TOMO_ID: tomo, S.PIXEL_SIZE: px[p],
            S.ROT: ang[:, 0], S.TILT: ang[:, 1], S.PSI: ang[:, 2], S.SHIFT_X: shift[:, 0], S.SHIFT_Y: shift[:, 1],
            S.DEFOCUS_U: t["defocus_u"][f], S.DEFOCUS_V: t["defocus_v"][f], S.DEFOCUS_ANGLE: t["defocus_angle"][f],
            S.VOLTAGE: cval("rlnVoltage"), S.CS: cval("rlnSphericalAberration"),
            S.AMP_CONTRAST: cval("rlnAmplitudeContrast"), S.PHASE_SHIFT: t["phase_shift"][f],
            S.DOSE: t["dose"][f], S.TILT_ANGLE: t["tilt_angle"][f], S.TILT_WEIGHT: t["tilt_weight"][f],
            S.COORD_X: coords[p, 0], S.COORD_Y: coords[p, 1], S.COORD_Z: coords[p, 2],
            S.CTF_PREMULTIPLIED: premultiplied[p],
        }))
    table = pd.concat(pieces, ignore_index=True)
    table = table.sort_values([S.SOURCE_ROW, S.FRAME], kind="stable").reset_index(drop=True)
    p = table[S.SOURCE_ROW].to_numpy()
    names = df["rlnImageName"].astype(str).to_numpy(dtype=object)
    if "rlnTomoParticleName" in df:
        pid = df["rlnTomoParticleName"].astype(str).to_numpy(dtype=object)
    elif "rlnTomoParticleId" in df:
        pid = np.array([f"{t}/{i}" for t, i in zip(tomo_names, df["rlnTomoParticleId"])], dtype=object)
    else:
        pid = np.array([f"{t}/{i + 1}" for t, i in zip(tomo_names, rows)], dtype=object)
    table[S.PARTICLE_INDEX] = p  # particles in input order, all kept (zero-visible ones raised above)
    table[S.PARTICLE_ID] = pid[p]
    table[S.IMAGE_PATH] = names[p]
    table[S.IMAGE_INDEX] = table[S.FRAME].to_numpy()
    table[S.BOX] = 0
    table[S.VISIBLE] = True
    table[S.SOURCE_IMAGE_ROW] = -1
    return table[S.ALL_COLUMNS]


def origin_angst(df: pd.DataFrame, path) -> np.ndarray:
    """(n, 3) rlnOrigin{X,Y,Z}Angst (0 where a whole axis is absent); half a shift is refused, naming the column."""
    from ._warp import check_shift_pairs
    check_shift_pairs(df, path, [("rlnOriginXAngst", "rlnOriginYAngst")])
    return np.stack([df[f"rlnOrigin{a}Angst"].to_numpy(float) if f"rlnOrigin{a}Angst" in df else np.zeros(len(df))
                     for a in "XYZ"], -1)


def _tilt_series_pixel_size(df: pd.DataFrame, glob: pd.DataFrame, tomo_names: np.ndarray) -> np.ndarray:
    if "rlnTomoTiltSeriesPixelSize" in df:
        return df["rlnTomoTiltSeriesPixelSize"].to_numpy(float)
    if "rlnTomoTiltSeriesPixelSize" in glob.columns:
        return glob["rlnTomoTiltSeriesPixelSize"].reindex(tomo_names).to_numpy(float)
    return np.full(len(tomo_names), np.nan)
