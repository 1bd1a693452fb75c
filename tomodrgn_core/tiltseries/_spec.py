"""The JSON description of tilt series + particles that the Scipion plugin writes for ``tomodrgn
prepare_image_series`` (it reads Scipion's objects in Scipion's Python; the core does the geometry here).

{"voltage": kV, "cs": mm, "amp_contrast": fraction,
 "tilt_series": [{"tomo_id": str, "stack": path, "frames": [0-based slice per enabled tilt, stack order],
                  "tilt_angles": [deg], "transforms": [3x3 IMOD raw -> aligned, px], "dose": [e/A^2 before the tilt],
                  "defocus": [[U, V, angle]] (A, A, deg), "pixel_size": A/px,
                  "particles": {"ids": [str], "coords": [[x, y, z]] px centred (Scipion's SCIPION origin),
                                "coords_pixel_size": A/px, "matrices": [4x4 Scipion Transform],
                                "shift_pixel_size": A/px of the matrices' shifts,
                                "relion5_angles": [[rlnAngleRot, rlnAngleTilt, rlnAnglePsi]] or absent}}]}

Poses: physics/_geometry.py. A Scipion matrix gives the pose A and the offset o (centre = coordinate - o); a
scipion-em-reliontomo RELION 5 item (``relion5_angles`` given) holds A_sub and o in its matrix and A_p in its
angles: pose A_sub A_p, offset A_sub o.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import TomoDrgnInputError
from ..physics._geometry import from_scipion_matrix, relion5_item_pose
from ..physics._rotations import euler_to_matrix
from ._geometry import TiltGeometry
from ._prepare import TomogramParticles

FIX = "write the file with the Scipion plugin's 'tomoDRGN prepare image series' (see tomodrgn_core/tiltseries/_spec.py)"


class StackFrames:
    """Some frames of an MRC stack, memory-mapped: what prepare_image_series reads one tilt at a time."""

    def __init__(self, path, frames):
        import mrcfile
        try:
            self._data = mrcfile.mmap(path, mode="r", permissive=True).data
        except (OSError, ValueError) as err:
            raise TomoDrgnInputError(f"cannot read the tilt stack ({type(err).__name__})", path=path,
                                     fix="check that the tilt series file exists and is an MRC stack") from None
        if self._data is None or self._data.ndim not in (2, 3):
            raise TomoDrgnInputError("not an MRC image stack", path=path, fix="give the raw tilt series")
        if self._data.ndim == 2:
            self._data = self._data[None]
        self._frames = np.asarray(frames, int)
        bad = self._frames[(self._frames < 0) | (self._frames >= len(self._data))]
        if len(bad):
            raise TomoDrgnInputError(f"tilt image {bad[0] + 1} is not in the stack ({len(self._data)} images)",
                                     path=path, fix="the tilt series' images must be slices of this stack")
        self.shape = (len(self._frames),) + tuple(self._data.shape[-2:])

    def __getitem__(self, t):
        return self._data[self._frames[t]]


def particle_poses(parts: dict) -> tuple[np.ndarray, np.ndarray]:
    """(poses (n, 3, 3), offsets (n, 3) px at shift_pixel_size) of a spec's particles."""
    M = np.asarray(parts["matrices"], float).reshape(-1, 4, 4)
    if parts.get("relion5_angles") is not None:
        ang = np.asarray(parts["relion5_angles"], float).reshape(-1, 3)
        return relion5_item_pose(M, euler_to_matrix(ang[:, 0], ang[:, 1], ang[:, 2]))
    return from_scipion_matrix(M)


def tomograms_from_spec(path, poses_by_id: dict | None = None) -> tuple[list[TomogramParticles], dict]:
    """(TomogramParticles per tilt series, the spec's acquisition {voltage, cs, amp_contrast}); ``poses_by_id``
    (a dict, filled): particle id -> (pose, offset in A, coordinate in A as given), for the particle table."""
    poses_by_id = {} if poses_by_id is None else poses_by_id
    try:
        spec = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise TomoDrgnInputError(f"unreadable tilt-series description ({type(err).__name__})", path=path,
                                 fix=FIX) from None
    tomos = []
    for k, ts in enumerate(spec.get("tilt_series", [])):
        try:
            parts = ts["particles"]
            defocus = np.asarray(ts["defocus"], float).reshape(-1, 3)
            stack = StackFrames(ts["stack"], ts["frames"])
            geom = TiltGeometry(tilt_angles=np.asarray(ts["tilt_angles"], float),
                                transforms=np.asarray(ts["transforms"], float).reshape(-1, 3, 3),
                                image_shape=stack.shape[1:], dose=np.asarray(ts["dose"], float),
                                defocus_u=defocus[:, 0], defocus_v=defocus[:, 1], defocus_angle=defocus[:, 2],
                                pixel_size=float(ts["pixel_size"]))
            poses, offsets = particle_poses(parts)
            coords = np.asarray(parts["coords"], float).reshape(-1, 3)
        except KeyError as err:
            raise TomoDrgnInputError(f"tilt series {k + 1} lacks '{err.args[0]}'", path=path, fix=FIX) from None
        # the particle centre (coordinate - offset), in px at the tilt-series sampling
        centres = (coords * float(parts["coords_pixel_size"]) - offsets * float(parts["shift_pixel_size"])) \
            / geom.pixel_size
        tomos.append(TomogramParticles(str(ts["tomo_id"]), stack, geom, centres, poses,
                                       [str(i) for i in parts["ids"]]))
        for i, pid in enumerate(parts["ids"]):  # what the particle table of the result says of each particle
            poses_by_id[str(pid)] = (poses[i], offsets[i] * float(parts["shift_pixel_size"]),
                                     coords[i] * float(parts["coords_pixel_size"]))
    if not tomos:
        raise TomoDrgnInputError("no tilt series with particles", path=path, fix=FIX)
    return tomos, {k: float(spec[k]) for k in ("voltage", "cs", "amp_contrast") if spec.get(k) is not None}
