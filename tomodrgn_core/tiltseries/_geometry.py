"""Tilt-series geometry: where a tomogram point lands in each (raw, unaligned) tilt image.

Convention (the one scipion-em-reliontomo uses to turn Scipion tilt-series alignment into RELION 5
projection matrices, convert50_tomo.py: rlnTomoYTilt = tilt angle, rlnTomoZRot = atan2(M[0,1], M[0,0]),
rlnTomoXShiftAngst/YShift = inv(M)[:2, 2] * pixel size):

* ``transforms[f]`` is the 3x3 homogeneous 2D matrix M_f of Scipion's ``TiltImage.getTransform()``
  (IMOD .xf): it maps raw image coordinates to aligned ones, about the image centre, in px.
* A tomogram point X (px, (x, y, z), 0 at the tomogram centre = Scipion's SCIPION coordinate origin)
  is tilted about the y axis, R_tilt = euler_to_matrix(0, t_f, 0) (the simulator's stage rotation),
  giving aligned image coordinates; the raw image position is inv(M_f) applied to those:
      p_raw = c_img + inv(M_f)[:2, :2] @ (R_tilt X)[:2] + inv(M_f)[:2, 2],   c_img = (W // 2, H // 2).
* The 3x3 projection rotation is R_f = embed(inv(M_f)[:2, :2]) @ R_tilt (embed: 2D rotation about z),
  so p_raw = c_img + (R_f X)[:2] + s_f with s_f = inv(M_f)[:2, 2] (RELION 5's P = Tshift Rz Ry Tcentre).
* A particle with pose A_p (maps reference to tomogram coordinates' frame, RELION matrix) has per-tilt
  pose A_f = R_f @ A_p: image(x, y) = integral of V(A_f^T (x, y, z)) dz as in tomodrgn_core.physics.
The tilt-axis angle (IMOD RotationAngle: counter-clockwise from the image y axis) lives in M_f: an
unaligned series with axis angle a has M_f = rotation by -a (``transforms_from_axis``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    r_tilt = euler_to_matrix(np.zeros(nt), np.asarray(geom.tilt_angles, float), np.zeros(nt))
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
    """(n, nt) height of each particle along the beam in each tilt (px, + towards the source's side z)."""
    R, _ = projection_rotations(geom)
    return np.einsum("tj,nj->nt", R[:, 2, :], np.asarray(coords_px, float))


def particle_tilt_poses(A_particles: np.ndarray, geom: TiltGeometry) -> np.ndarray:
    """(n, 3, 3) particle poses -> (n, nt, 3, 3) per-tilt poses A_f = R_f @ A_p."""
    R, _ = projection_rotations(geom)
    return np.einsum("tij,njk->ntik", R, np.asarray(A_particles, float))
