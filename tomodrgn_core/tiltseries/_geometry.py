"""Tilt-series geometry: where a tomogram point lands in each (raw, unaligned) tilt image, and each particle's
per-tilt pose. One convention: RELION 5's projection matrices as scipion-em-reliontomo builds them from Scipion
objects (convert50_tomo.py writes rlnTomoXTilt = 0, rlnTomoYTilt = tilt angle, rlnTomoZRot = atan2(M[0,1], M[0,0]),
rlnTomoX/YShiftAngst = inv(M)[:2, 2] * pixel size; RELION 5 composes P = S(shift) Rz(zrot) Ry(ytilt) Rx(xtilt)
S(-tomogram centre) with right-handed rotation matrices).

* ``transforms[f]`` is the 3x3 homogeneous 2D matrix M_f of Scipion's ``TiltImage.getTransform()``
  (IMOD .xf): it maps raw image coordinates to aligned ones, about the image centre, in px.
* R_f = Rz(zrot_f) @ Ry(t_f), right-handed: Ry(t) = [[c, 0, s], [0, 1, 0], [-s, 0, c]] (= the physics module's
  euler_to_matrix(0, -t, 0)); Rz(zrot_f)[:2, :2] = inv(M_f)[:2, :2] (zrot = atan2(M01, M00)); s_f = inv(M_f)[:2, 2].
* A tomogram point X (px, (x, y, z), 0 at the tomogram centre = Scipion's SCIPION coordinate origin) lands at
      p_raw = c_img + (R_f X)[:2] + s_f,   c_img = (W // 2, H // 2).
* A particle with RELION pose A_p (rlnTomoSubtomogram* angles composed with rlnAngle*, as the RELION 5 reader
  builds it) has per-tilt pose A_f = H @ R_f @ A_p @ H, H = diag(1, 1, hand): the RELION 5 reader's formula
  (physics/_geometry.py: ``tilt_poses``) with ``TiltGeometry.hand``, default -1, the hand scipion-em-reliontomo
  writes for Scipion tilt series ("focus decreases with Z", its default), so a particle extracted here and the
  same particle exported to RELION 5 through reliontomo get the same table rows.
The tilt-axis angle (IMOD RotationAngle: counter-clockwise from the image y axis) lives in M_f: an
unaligned series with axis angle a has M_f = rotation by -a (``transforms_from_axis``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..physics._geometry import tilt_poses
from ..physics._rotations import euler_to_matrix


@dataclass
class TiltGeometry:
    """One tilt series (arrays indexed by tilt frame, stack order)."""
    tilt_angles: np.ndarray      # (nt,) stage tilt, deg
    transforms: np.ndarray       # (nt, 3, 3) Scipion/IMOD raw -> aligned, px
    image_shape: tuple           # (H, W) px of the raw tilt images
    dose: np.ndarray             # (nt,) cumulative exposure before the tilt, e/A^2
    defocus_u: np.ndarray        # (nt,) A
    defocus_v: np.ndarray        # (nt,) A
    defocus_angle: np.ndarray    # (nt,) deg
    pixel_size: float            # A/px of the tilt images
    hand: float = -1.0           # rlnTomoHand of the series (physics/_geometry.py); reliontomo's default

    @property
    def n_tilts(self) -> int:
        return len(self.tilt_angles)


def transforms_from_axis(tilt_axis_deg, shifts_px=None, n_tilts: int | None = None) -> np.ndarray:
    """(nt, 3, 3) IMOD-style raw -> aligned matrices: rotate by -axis (axis made vertical), then shift.
    ``tilt_axis_deg`` scalar or (nt,); ``shifts_px`` (nt, 2) added after the rotation (aligned frame)."""
    ax = np.atleast_1d(np.asarray(tilt_axis_deg, float))
    nt = n_tilts or (len(shifts_px) if shifts_px is not None else len(ax))
    ax = np.broadcast_to(ax, (nt,))
    c, s = np.cos(np.deg2rad(-ax)), np.sin(np.deg2rad(-ax))
    m = np.zeros((nt, 3, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    m[:, 2, 2] = 1.0
    if shifts_px is not None:
        m[:, :2, 2] = np.asarray(shifts_px, float)
    return m


def projection_rotations(geom: TiltGeometry) -> tuple[np.ndarray, np.ndarray]:
    """(R_f (nt, 3, 3), s_f (nt, 2) px) of the convention in the module docstring."""
    inv = np.linalg.inv(np.asarray(geom.transforms, float))
    nt = geom.n_tilts
    rz = np.zeros((nt, 3, 3))
    rz[:, :2, :2] = inv[:, :2, :2]
    rz[:, 2, 2] = 1.0
    # right-handed rotation about y by +t (RELION 5's Ry), which is euler_to_matrix(0, -t, 0)
    r_tilt = euler_to_matrix(np.zeros(nt), -np.asarray(geom.tilt_angles, float), np.zeros(nt))
    return rz @ r_tilt, inv[:, :2, 2]


def image_centre(image_shape) -> np.ndarray:
    """(x, y) px of the raw image centre (index W // 2, H // 2, as every image in tomodrgn_core)."""
    h, w = image_shape
    return np.array([w // 2, h // 2], float)


def project_positions(coords_px: np.ndarray, geom: TiltGeometry) -> np.ndarray:
    """Tomogram coordinates (n, 3) px, centred -> (n, nt, 2) raw tilt-image positions (x, y) px."""
    R, s = projection_rotations(geom)
    X = np.asarray(coords_px, float)
    return np.einsum("tij,nj->nti", R[:, :2, :], X) + s[None] + image_centre(geom.image_shape)


def depth(coords_px: np.ndarray, geom: TiltGeometry) -> np.ndarray:
    """(n, nt) height of each particle along the beam in each tilt: (R_f X)_z, px (RELION's depth offset)."""
    R, _ = projection_rotations(geom)
    return np.einsum("tj,nj->nt", R[:, 2, :], np.asarray(coords_px, float))


def particle_tilt_poses(A_particles: np.ndarray, geom: TiltGeometry) -> np.ndarray:
    """(n, 3, 3) particle poses -> (n, nt, 3, 3) per-tilt poses A_f = H @ R_f @ A_p @ H (physics/_geometry.py)."""
    R, _ = projection_rotations(geom)
    return tilt_poses(R[None], np.asarray(A_particles, float)[:, None], geom.hand)
