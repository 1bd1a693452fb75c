"""One row per particle of a ParticleSet, with its pose as a Scipion matrix: what the Scipion plugin registers.

The plugin runs in Scipion's own Python (no torch, maybe 3.8) and reads this table as plain CSV + JSON
(``tomodrgn particle_table``); every pose below comes from physics/_geometry.py.

Particle pose and origin offset (px at the set's pixel size, tomogram frame; the centre is coordinate - offset):
* RELION 5 / WarpTools: A_sub A_p from rlnTomoSubtomogram* and rlnAngle*, offset A_sub o (o = rlnOrigin*Angst),
  RELION's ParticleSet::getPosition.
* Warp/M and cryoSRPNT image series hold only per-tilt poses (particle pose composed with the stage tilt, about
  an axis the file does not give). The particle pose is that pose with the stage tilt removed; the tilt image
  nearest 0 degrees approximates it (exact for a 0-degree image), and its 2D origin is the offset (z = 0).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..physics._geometry import scipion_matrix
from ..physics._rotations import euler_to_matrix
from . import _schema as S
from ._warp import merged_rows

MATRIX_COLUMNS = [f"m{i}{j}" for i in range(3) for j in range(4)]  # Scipion Transform, first 3 rows
RELION5_COLUMNS = {  # raw RELION 5 particle columns handed on as they are (reliontomo's items keep them)
    "rlnAngleRot": "rln_rot", "rlnAngleTilt": "rln_tilt", "rlnAnglePsi": "rln_psi",
    "rlnTomoSubtomogramRot": "sub_rot", "rlnTomoSubtomogramTilt": "sub_tilt", "rlnTomoSubtomogramPsi": "sub_psi",
    "rlnOriginXAngst": "origin_x_angst", "rlnOriginYAngst": "origin_y_angst", "rlnOriginZAngst": "origin_z_angst",
    "rlnCenteredCoordinateXAngst": "centered_x_angst", "rlnCenteredCoordinateYAngst": "centered_y_angst",
    "rlnCenteredCoordinateZAngst": "centered_z_angst", "rlnTomoVisibleFrames": "visible_frames",
    "rlnOpticsGroup": "optics_group", "rlnAngleTiltPrior": "tilt_prior", "rlnAnglePsiPrior": "psi_prior",
    "rlnClassNumber": "class_number", "rlnRandomSubset": "random_subset", "rlnGroupNumber": "group_number",
    "rlnNormCorrection": "norm_correction", "rlnLogLikeliContribution": "log_likelihood",
    "rlnMaxValueProbDistribution": "max_prob", "rlnNrOfSignificantSamples": "significant_samples",
    "rlnCoordinateX": "coordinate_x", "rlnCoordinateY": "coordinate_y", "rlnCoordinateZ": "coordinate_z",
}


def reference_rows(table: pd.DataFrame) -> np.ndarray:
    """Table row of each particle's image nearest 0 degrees of stage tilt (first such row on ties)."""
    key = table[S.TILT_ANGLE].abs().to_numpy()
    order = np.lexsort((np.arange(len(table)), key, table[S.PARTICLE_INDEX].to_numpy()))
    pidx = table[S.PARTICLE_INDEX].to_numpy()[order]
    return order[np.r_[True, pidx[1:] != pidx[:-1]]]


def particle_table(ps) -> pd.DataFrame:
    """One row per particle (particle_index order): identity, the reference tilt image (stack, 0-based
    index), tilt count, CTF constants, coordinate (px at the pixel size, centred on the tomogram; NaN where the
    STAR has none), the Scipion matrix (m00..m23) and, for RELION 5, the particle's raw RELION columns."""
    t = ps.table
    ref = t.iloc[reference_rows(t)].reset_index(drop=True)
    apix = ps.pixel_size
    n = len(ref)
    if ps.source == "relion5":
        _, df = merged_rows(ps.origin["particle_blocks"], ps.origin["particles_path"])
        rows = df.iloc[ref[S.SOURCE_ROW].to_numpy()].reset_index(drop=True)
        get = lambda c: rows[c].to_numpy(float) if c in rows else np.zeros(n)  # noqa: E731
        A_p = euler_to_matrix(get("rlnAngleRot"), get("rlnAngleTilt"), get("rlnAnglePsi"))
        A_sub = euler_to_matrix(get("rlnTomoSubtomogramRot"), get("rlnTomoSubtomogramTilt"),
                                get("rlnTomoSubtomogramPsi"))
        origin = np.stack([get(f"rlnOrigin{a}Angst") for a in "XYZ"], -1) / apix
        A, offset = A_sub @ A_p, np.einsum("nij,nj->ni", A_sub, origin)
        coords = relion5_centred_coords(rows, ps) / apix
    else:
        rows = None
        A = euler_to_matrix(ref[S.ROT].to_numpy(), ref[S.TILT].to_numpy(), ref[S.PSI].to_numpy())
        offset = np.stack([ref[S.SHIFT_X].to_numpy(float), ref[S.SHIFT_Y].to_numpy(float), np.zeros(n)], -1) / apix
        coords = ref[[S.COORD_X, S.COORD_Y, S.COORD_Z]].to_numpy(float) / apix
    M = scipion_matrix(A, offset)[:, :3, :].reshape(n, 12)
    out = pd.DataFrame({
        S.PARTICLE_INDEX: ref[S.PARTICLE_INDEX].to_numpy(np.int64), S.PARTICLE_ID: ref[S.PARTICLE_ID].astype(str),
        S.TOMO_ID: ref[S.TOMO_ID].astype(str), S.SOURCE_ROW: ref[S.SOURCE_ROW].to_numpy(np.int64),
        S.IMAGE_PATH: ref[S.IMAGE_PATH].astype(str), S.IMAGE_INDEX: ref[S.IMAGE_INDEX].to_numpy(np.int64),
        "n_tilts": ps.ntilts[ref[S.PARTICLE_INDEX].to_numpy()], S.TILT_ANGLE: ref[S.TILT_ANGLE].to_numpy(float),
        S.VOLTAGE: ref[S.VOLTAGE].to_numpy(float), S.CS: ref[S.CS].to_numpy(float),
        S.AMP_CONTRAST: ref[S.AMP_CONTRAST].to_numpy(float),
        "coord_x_px": coords[:, 0], "coord_y_px": coords[:, 1], "coord_z_px": coords[:, 2],
    })
    out[MATRIX_COLUMNS] = M
    if rows is not None:
        for src, name in RELION5_COLUMNS.items():
            if src in rows:
                out[name] = rows[src].to_numpy()
    return out


def set_summary(ps) -> dict:
    """Set-level facts for the JSON beside the table (plain types only)."""
    origin = ps.origin or {}
    info = {"source": ps.source, "star": str(ps.star_path.resolve()), "n_particles": int(ps.n_particles),
            "n_images": int(len(ps.table)), "pixel_size": float(ps.pixel_size), "box": int(ps.box),
            "ntilts_min": int(ps.ntilts.min()), "ntilts_max": int(ps.ntilts.max()),
            "ctf_premultiplied": bool(ps.table[S.CTF_PREMULTIPLIED].any())}
    for key in ("particles_path", "tomograms_path", "optimisation_set"):
        if origin.get(key):
            info[key] = str(Path(origin[key]).resolve())
    info["tomograms"] = tomogram_records(ps)
    ts_px = [r["pixel_size"] for r in info["tomograms"].values() if r["size_px"]]
    # RELION 5: the tilt series' pixel size and the particles' binning relative to it (reliontomo's set fields)
    info["tilt_series_pixel_size"] = float(ts_px[0]) if ts_px else info["pixel_size"]
    info["binning"] = info["pixel_size"] / info["tilt_series_pixel_size"]
    return info


def tomogram_records(ps) -> dict:
    """{tomogram name: {"size_px": [X, Y, Z] or None, "pixel_size": A/px of that size, "origin_angst": Scipion's
    origin (minus half the tomogram, A) or None, "file": reconstruction or None}}: what the STAR says of the
    particles' tomograms (RELION 5: the tomograms STAR's global block)."""
    names = [str(n) for n in pd.unique(ps.table[S.TOMO_ID])]
    out = {n: {"size_px": None, "pixel_size": float(ps.pixel_size), "origin_angst": None, "file": None}
           for n in names}
    if ps.source != "relion5":
        return out
    from ._star import read_star
    glob = read_star(ps.origin["tomograms_path"]).get("global")
    if not isinstance(glob, pd.DataFrame) or "rlnTomoName" not in glob:
        return out
    base = Path(ps.origin["tomograms_path"]).parent
    for _, row in glob.iterrows():
        rec = out.get(str(row["rlnTomoName"]))
        if rec is None:
            continue
        if all(f"rlnTomoSize{a}" in row for a in "XYZ") and "rlnTomoTiltSeriesPixelSize" in row:
            rec["size_px"] = [int(row[f"rlnTomoSize{a}"]) for a in "XYZ"]
            rec["pixel_size"] = float(row["rlnTomoTiltSeriesPixelSize"])
            rec["origin_angst"] = [-s * rec["pixel_size"] / 2 for s in rec["size_px"]]
        recon = row.get("rlnTomoReconstructedTomogram")
        if isinstance(recon, str):
            path = Path(recon) if Path(recon).is_absolute() else base / recon
            rec["file"] = str(path.resolve()) if path.is_file() else None
    return out


def relion5_centred_coords(rows: pd.DataFrame, ps) -> np.ndarray:
    """(n, 3) particle coordinates in A from the tomogram centre (Scipion's SCIPION origin, RELION 5's
    rlnCenteredCoordinate*Angst): as written, or from rlnCoordinate* (px of the tilt series, from the corner, as
    WarpTools writes them) minus half the tomogram (rlnTomoSize*, tomograms STAR); NaN where neither is known."""
    n = len(rows)
    if "rlnCenteredCoordinateXAngst" in rows:
        return np.stack([rows[f"rlnCenteredCoordinate{a}Angst"].to_numpy(float) for a in "XYZ"], -1)
    if "rlnCoordinateX" not in rows:
        return np.full((n, 3), np.nan)
    from ._star import read_star
    glob = read_star(ps.origin["tomograms_path"]).get("global")
    if not isinstance(glob, pd.DataFrame) or "rlnTomoName" not in glob:
        return np.full((n, 3), np.nan)
    glob = glob.set_index(glob["rlnTomoName"].astype(str))
    names = rows["rlnTomoName"].astype(str)
    col = lambda c: glob[c].reindex(names).to_numpy(float) if c in glob else np.full(n, np.nan)  # noqa: E731
    ts_px = rows["rlnTomoTiltSeriesPixelSize"].to_numpy(float) if "rlnTomoTiltSeriesPixelSize" in rows \
        else col("rlnTomoTiltSeriesPixelSize")
    corner = np.stack([rows[f"rlnCoordinate{a}"].to_numpy(float) for a in "XYZ"], -1)
    size = np.stack([col(f"rlnTomoSize{a}") for a in "XYZ"], -1)
    return (corner - size / 2) * ts_px[:, None]
