"""Map-back: a ChimeraX .cxc script placing one volume per particle at its tomogram position and orientation.

Convention (documented for users): a volume vol[z, y, x] of box D is opened with ``originIndex D//2`` (its
centre voxel at the model origin) and placed with ``view matrix models #k,R|t``, where R maps volume
coordinates (x, y, z) to tomogram coordinates and t is the particle centre in A:
- RELION 5: R = A(rlnTomoSubtomogramRot/Tilt/Psi) @ A(rlnAngleRot/Tilt/Psi) (RELION ZYZ, the matrix that maps
  the reference onto the particle), t = rlnCenteredCoordinate*Angst - A_sub @ rlnOrigin*Angst (RELION's refined
  centre, ParticleSet::getPosition; A_sub = A(rlnTomoSubtomogramRot/Tilt/Psi), identity when absent)
  plus half the tomogram size (rlnTomoSize* x rlnTomoTiltSeriesPixelSize) so that t is measured from the
  tomogram's first voxel, as ChimeraX shows a tomogram MRC with origin 0 (``centered=True`` keeps RELION's
  centred frame).
- Warp/M image series: R = the pose of the particle's lowest-|tilt| image (the ~0-degree image: the stage tilt
  is ~identity there, so its pose is the particle's pose in the tomogram frame; exact for our simulator and
  cryoSRPNT, and for Warp up to any in-plane tilt-axis rotation Warp folded into the per-image angles, which
  an image-series STAR does not record; if the 0-degree image was dropped, the lowest tilt's few degrees
  remain), t = the particle's coordinate columns (rlnCenteredCoordinate*Angst or rlnCoordinate* x
  rlnTomoTiltSeriesPixelSize); Warp image-series STARs without coordinates cannot be placed.
- Hand: for rlnTomoHand -1 our volumes are the z-mirror of what the STAR's geometry reconstructs
  (physics/_geometry.py); the placement uses the STAR's own angles, i.e. RELION's tomogram frame.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import TomoDrgnInputError
from ..io import schema as S
from ..physics import euler_to_matrix


def placements(ps, centered: bool = False, offset=None) -> pd.DataFrame:
    """One row per particle: particle, tomo_id, x, y, z (A), r11..r33 (placement rotation)."""
    t = ps.table
    first = ps.row_offsets[:-1]
    coords = t[[S.COORD_X, S.COORD_Y, S.COORD_Z]].to_numpy(np.float64)[first]
    tomo = t[S.TOMO_ID].to_numpy(dtype=object)[first]
    if ps.source == "relion5":
        R, coords = _relion5_poses(ps, first, coords, tomo, centered)
    else:
        R = _lowest_tilt_poses(ps)
    if not np.isfinite(coords).all():
        i = int(np.flatnonzero(~np.isfinite(coords).all(1))[0])
        raise TomoDrgnInputError("particle has no tomogram coordinates", path=ps.star_path, row=i + 1,
                                 fix="use a STAR with rlnCenteredCoordinate*Angst (or rlnCoordinate* and "
                                     "rlnTomoTiltSeriesPixelSize), e.g. the RELION 5 export")
    if offset is not None:
        coords = coords + np.asarray(offset, np.float64)
    df = pd.DataFrame({"particle": np.arange(ps.n_particles), "particle_id": t[S.PARTICLE_ID].to_numpy()[first],
                       "tomo_id": tomo, "x": coords[:, 0], "y": coords[:, 1], "z": coords[:, 2]})
    for i in range(3):
        for j in range(3):
            df[f"r{i + 1}{j + 1}"] = R[:, i, j]
    return df


def _lowest_tilt_poses(ps) -> np.ndarray:
    t = ps.table
    pidx = t[S.PARTICLE_INDEX].to_numpy(np.int64)
    order = np.lexsort((np.abs(t[S.TILT_ANGLE].to_numpy(np.float64)), pidx))  # per particle, lowest |tilt| first
    best = order[np.r_[0, ps.row_offsets[1:-1]]]
    return euler_to_matrix(*(t[c].to_numpy(np.float64)[best] for c in (S.ROT, S.TILT, S.PSI)))


def _relion5_poses(ps, first, coords, tomo, centered):
    from ..io import read_star
    from ..io._warp import merged_rows

    _, df = merged_rows(ps.origin["particle_blocks"], ps.origin["particles_path"])
    rows = ps.table[S.SOURCE_ROW].to_numpy(np.int64)[first]
    df = df.iloc[rows]
    from ..io._relion5 import origin_angst
    R = euler_to_matrix(*(df[f"rlnAngle{a}"].to_numpy(float) for a in ("Rot", "Tilt", "Psi")))
    A_sub = np.broadcast_to(np.eye(3), R.shape)
    if "rlnTomoSubtomogramRot" in df:
        A_sub = euler_to_matrix(*(df[f"rlnTomoSubtomogram{a}"].to_numpy(float) for a in ("Rot", "Tilt", "Psi")))
    R = A_sub @ R
    coords = coords - np.einsum("nij,nj->ni", A_sub, origin_angst(df, ps.origin["particles_path"]))
    if not centered and "rlnCenteredCoordinateXAngst" in df:
        glob = read_star(ps.origin["tomograms_path"]).get("global")
        need = ["rlnTomoSizeX", "rlnTomoSizeY", "rlnTomoSizeZ", "rlnTomoTiltSeriesPixelSize"]
        if isinstance(glob, pd.DataFrame) and all(c in glob for c in need):
            g = glob.set_index(glob["rlnTomoName"].astype(str))
            half = np.stack([g[c].reindex(tomo).to_numpy(float) for c in need[:3]], -1) * \
                g[need[3]].reindex(tomo).to_numpy(float)[:, None] / 2
            coords = coords + half
    return R, coords


def class_colors(labels: np.ndarray | None, n: int) -> list[str]:
    """Hex colour per particle: its class's colour-blind-safe colour (analysis/palette.py, the same as in the
    analysis figures), one colour without labels."""
    from .palette import class_hex

    if labels is None:
        return [class_hex(0, 1).lower()] * n
    labels = np.asarray(labels, np.int64)
    k = int(labels.max()) + 1 if len(labels) else 1
    return [class_hex(c, k).lower() for c in labels]


def write_cxc(path, place: pd.DataFrame, vol_paths: list, colors: list[str], box: int, pixel_size: float,
              levels: list[float]) -> Path:
    """The ChimeraX script: open each particle's volume, centre it, set level/colour, place it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    c = box // 2
    lines = ["# tomoDRGN subtomo2chimerax: one volume per particle at its tomogram position/orientation (A).",
             "# Open the tomogram too (voxel size set) to see them in context.",
             f"# {len(place)} particles"]
    for k, (row, vol, color, level) in enumerate(zip(place.itertuples(index=False), vol_paths, colors, levels), 1):
        m = [getattr(row, f"r{i}{j}") for i in (1, 2, 3) for j in (1, 2, 3)]
        t = (row.x, row.y, row.z)
        mat = [m[0], m[1], m[2], t[0], m[3], m[4], m[5], t[1], m[6], m[7], m[8], t[2]]
        lines += [f"open {Path(vol).resolve()}",
                  f"volume #{k} originIndex {c},{c},{c} voxelSize {pixel_size:g} level {level:.6g} color {color} "
                  "style surface",
                  "view matrix models #{},{}".format(k, ",".join(f"{v:.6g}" for v in mat))]
    lines.append("view")
    path.write_text("\n".join(lines) + "\n")
    return path
