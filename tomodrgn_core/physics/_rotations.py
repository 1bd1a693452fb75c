"""RELION ZYZ Euler angles <-> rotation matrices (numpy, float64, vectorised).

Convention (RELION's Euler_angles2matrix): A = Rz(psi) Ry(tilt) Rz(rot), and A maps reference
(volume) coordinates to image coordinates: image(x, y) = integral of V(A^T (x, y, z)) dz.
By the Fourier slice theorem, the central section of tilt image i samples the volume's transform at
``lattice_2d @ A_i`` (row vectors).
"""
import numpy as np


def euler_to_matrix(rot, tilt, psi) -> np.ndarray:
    """Angles in degrees (scalars or (n,) arrays) -> (..., 3, 3)."""
    a, b, g = (np.deg2rad(np.asarray(v, dtype=np.float64)) for v in (rot, tilt, psi))
    ca, sa, cb, sb, cg, sg = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(g), np.sin(g)
    cc, cs, sc, ss = cb * ca, cb * sa, sb * ca, sb * sa
    m = np.stack([
        np.stack([cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb], -1),
        np.stack([-sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb], -1),
        np.stack([sc, ss, cb], -1),
    ], -2)
    return m


def matrix_to_euler(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) angles (rot, tilt, psi) in degrees, as RELION's Euler_matrix2angles."""
    m = np.asarray(m, dtype=np.float64)
    abs_sb = np.sqrt(m[..., 0, 2] ** 2 + m[..., 1, 2] ** 2)
    regular = abs_sb > 16 * np.finfo(np.float32).eps
    psi = np.arctan2(m[..., 1, 2], -m[..., 0, 2])
    rot = np.arctan2(m[..., 2, 1], m[..., 2, 0])
    sin_psi = np.sin(psi)
    with np.errstate(divide="ignore", invalid="ignore"):
        sign_sb = np.where(np.abs(sin_psi) < 1e-9, np.sign(-m[..., 0, 2] / np.cos(psi)),
                           np.where(sin_psi > 0, np.sign(m[..., 1, 2]), -np.sign(m[..., 1, 2])))
    tilt = np.arctan2(sign_sb * abs_sb, m[..., 2, 2])
    # gimbal lock: tilt = 0 or 180, put everything in psi
    up = m[..., 2, 2] > 0
    rot = np.where(regular, rot, 0.0)
    tilt = np.where(regular, tilt, np.where(up, 0.0, np.pi))
    psi = np.where(regular, psi, np.where(up, np.arctan2(-m[..., 1, 0], m[..., 0, 0]),
                                          np.arctan2(m[..., 1, 0], -m[..., 0, 0])))
    return np.rad2deg(np.stack([rot, tilt, psi], -1))
