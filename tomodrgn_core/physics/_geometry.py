"""THE geometry convention of tomodrgn_core: rotations, in-plane shifts and hand. Every reader, writer, the
simulator, the tilt-series extractor and the Scipion plugin derive their poses from the functions here.

Rotations (RELION's, as cryoDRGN and the reference tomoDRGN use them)
    A = euler_to_matrix(rlnAngleRot, rlnAngleTilt, rlnAnglePsi) maps volume coordinates to image coordinates:
    a volume point r (relative to the box centre) lands at image point (A r)[:2], so the image is the
    projection of V(A^T x) along z, and by the Fourier slice theorem its transform samples the volume's at
    ``lattice_2d @ A`` (row vectors). Checked on data nobody here made: the reference tomoDRGN's cryoSRPNT
    set (tests/data/cryosrpnt_10076_classD) back-projects to its true map with these poses.

Shifts (RELION's origin offsets: rlnOriginX/Y in px, rlnOriginX/YAngst in A, same sign)
    The particle sits at box centre - origin. Preprocessing and back-projection therefore move each image by
    +origin (``centre_images``) to put the particle at the box centre; a writer that knows where the particle
    sits writes origin = box centre - particle position. This is RELION's rule (a re-extraction recentres at
    coordinate - origin) and the reference tomoDRGN's; with the opposite sign the cryoSRPNT fixture's clean
    back-projection falls from CC 0.92 to 0.45 with its true map.

RELION 5 / WarpTools optimisation sets (per-tilt poses from the tomograms STAR)
    RELION maps particle space to tomogram space with A_sub @ A_p (ParticleSet::getMatrix3x3:
    A(rlnTomoSubtomogram*) @ A(rlnAngle*)) and tomogram space to tilt image f with R_f, the 3x3 of the
    projection matrix whose rows are rlnTomoProjX/Y/Z. The particle's refined centre is
    coordinate - A_sub @ origin (ParticleSet::getPosition), so its tilt images, extracted at the coordinate,
    carry the 2D origin (R_f @ A_sub @ origin)[:2] (``tilt_origins``).
    Hand: rlnTomoHand is the sign of the defocus slope along image-space z, i.e. whether image-space z points
    along or against the beam. The projection matrices alone cannot tell the two apart (a specimen seen with
    tilts +t is indistinguishable from its mirror seen with tilts -t); the hand can. For hand -1 the specimen
    is the z-mirror of what R_f @ A_sub @ A_p reconstructs, so per-tilt poses are H R_f A_sub A_p H with
    H = diag(1, 1, hand) (``tilt_poses``): H on the right mirrors the volume, H on the left only flips
    image-space z, which a projection ignores, and the image xy geometry (and every 2D origin) is unchanged.
    The fixture decides the sign: on the WarpTools export (hand -1) our back-projection correlates with the
    exporting software's own map at CC 0.71 with H and 0.50 without (the unmirrored map's z-mirror: 0.65).
    WarpTools and RELION's import write hand -1 by default; files with hand +1 (our simulator writes them) are
    composed without a mirror, exactly as RELION and the reference tomoDRGN compose them.

Scipion (scipion-em-tomo)
    Scipion stores M with f'(r) = f(M r) (f the reference, f' the subtomogram boxed at the coordinate):
    M = [[A^T, A^T o], [0, 1]], A RELION's rotation and o the particle's origin offset in px in the tomogram
    frame, so the particle's centre (where M r = 0) is coordinate - o: RELION's rule again. This is the matrix
    scipion-em-reliontomo's readers store (genTransformMatrix) and its writers read back as rlnAngle*/rlnOrigin*
    (getTransformInfoFromCoordOrSubtomo); ``scipion_matrix`` / ``from_scipion_matrix``. reliontomo's RELION 5
    items keep only A_sub (rlnTomoSubtomogram*) and the origin o in that matrix, with rlnAngle* (A_p) as separate
    attributes: their particle pose is A_sub A_p and their offset A_sub o (``relion5_item_pose``). The plugin
    moves these matrices between Scipion objects and files; every number in them is computed here.
    Dynamo (scipion-em-dynamo's convert): its table angles (tdrot, tilt, narot; ZXZ) give Scipion's 3x3 as
    inv(euler_matrix(tdrot, tilt, narot, 'szxz')), so RELION's A is that Euler matrix itself (``dynamo_matrix``),
    and its shifts point from the coordinate to the particle: offset o = -shift.
"""
from __future__ import annotations

import numpy as np
import torch

from ._fft import fft2_center, ifft2_center
from ._lattice import lattice_2d


def hand_matrix(hand: float) -> np.ndarray:
    """H = diag(1, 1, sign(hand)): the z-mirror of a hand -1 tomogram, identity for hand +1."""
    return np.diag([1.0, 1.0, -1.0 if hand < 0 else 1.0])


def tilt_poses(R: np.ndarray, A_particle: np.ndarray, hand=1.0) -> np.ndarray:
    """Per-tilt poses H @ R @ A_particle @ H for matching stacks of R (..., 3, 3) and A_particle (..., 3, 3)
    (A_particle already holds A_sub @ A_p); ``hand`` scalar or broadcastable array of +-1."""
    h = np.where(np.asarray(hand, float) < 0, -1.0, 1.0)[..., None, None] * np.ones((3, 3))
    # H X H flips the sign of the entries (i, 2) and (2, j) with i, j < 2, keeps (2, 2): elementwise h_i h_j
    sign = np.ones_like(h)
    sign[..., :2, 2] = h[..., :2, 2]
    sign[..., 2, :2] = h[..., 2, :2]
    return np.einsum("...ij,...jk->...ik", R, A_particle) * sign


def tilt_origins(R: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """2D origins (..., 2) of tilt images whose particle sits ``offset`` (..., 3) (= A_sub @ 3D origin, in the
    tomogram frame, same unit as the result) away from the extraction centre, along -offset."""
    return np.einsum("...ij,...j->...i", np.asarray(R)[..., :2, :], np.asarray(offset))


def shift_images(images: torch.Tensor, shifts_px: torch.Tensor) -> torch.Tensor:
    """Move the content of (n, D, D) images by (n, 2) pixel shifts (x, y), with a Fourier phase ramp."""
    D = images.shape[-1]
    lat = lattice_2d(D, device=images.device, dtype=torch.float64)[:, :2]
    phase = torch.exp(-2j * torch.pi * (shifts_px.to(torch.float64) @ lat.T)).reshape(-1, D, D)
    return ifft2_center(fft2_center(images.to(torch.float64)) * phase).real.to(images.dtype)


def centre_images(images: torch.Tensor, origin_px: torch.Tensor) -> torch.Tensor:
    """Images with their particle (at box centre - origin) moved to the box centre: shifted by +origin."""
    return shift_images(images, origin_px)


def scipion_matrix(A: np.ndarray, offset_px: np.ndarray) -> np.ndarray:
    """(..., 4, 4) Scipion Transform matrices of particles with RELION pose A (..., 3, 3) whose centre sits at
    coordinate - offset_px (..., 3), tomogram frame, px at the set's sampling: [[A^T, A^T offset], [0, 1]]."""
    A = np.asarray(A, float)
    M = np.zeros(A.shape[:-2] + (4, 4))
    M[..., :3, :3] = np.swapaxes(A, -1, -2)
    M[..., :3, 3] = np.einsum("...ji,...j->...i", A, np.asarray(offset_px, float))
    M[..., 3, 3] = 1.0
    return M


def from_scipion_matrix(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A (..., 3, 3), offset_px (..., 3)) of Scipion matrices (..., 4, 4) or (..., 3, 4): the inverse of
    ``scipion_matrix`` (the rotation is orthonormalised first: Scipion stores floats rounded by sqlite)."""
    M = np.asarray(M, float)
    u, _, vt = np.linalg.svd(M[..., :3, :3])
    A = np.swapaxes(u @ vt, -1, -2)
    return A, np.einsum("...ij,...j->...i", A, M[..., :3, 3])


def relion5_item_pose(M: np.ndarray, A_particle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pose A_sub A_p, offset A_sub o) of scipion-em-reliontomo RELION 5 items: their Transform ``M`` holds
    A_sub and o (rlnTomoSubtomogram*, rlnOrigin*), ``A_particle`` is A_p of their rlnAngle* attributes."""
    A_sub, origin = from_scipion_matrix(M)
    return A_sub @ np.asarray(A_particle, float), np.einsum("...ij,...j->...i", A_sub, origin)


def dynamo_matrix(tdrot, tilt, narot) -> np.ndarray:
    """RELION's A (..., 3, 3) of Dynamo table angles (degrees): the static-frame ZXZ Euler matrix
    Rz(narot) Rx(tilt) Rz(tdrot) (transformations.euler_matrix(..., 'szxz'), as scipion-em-dynamo builds it)."""
    a, b, c = (np.deg2rad(np.asarray(v, float)) for v in (tdrot, tilt, narot))
    si, sj, sk, ci, cj, ck = np.sin(a), np.sin(b), np.sin(c), np.cos(a), np.cos(b), np.cos(c)
    cc, cs, sc, ss = ci * ck, ci * sk, si * ck, si * sk
    # axes i = z, j = x, k = y of the 'szxz' convention
    rows = {(2, 2): cj, (2, 0): sj * si, (2, 1): sj * ci, (0, 2): sj * sk, (0, 0): -cj * ss + cc,
            (0, 1): -cj * cs - sc, (1, 2): -sj * ck, (1, 0): cj * sc + cs, (1, 1): cj * cc - ss}
    return np.stack([np.stack([rows[(r, q)] for q in range(3)], -1) for r in range(3)], -2)


def dynamo_angles(A: np.ndarray) -> np.ndarray:
    """(..., 3) Dynamo (tdrot, tilt, narot) degrees of RELION poses A: the inverse of ``dynamo_matrix``."""
    A = np.asarray(A, float)
    sy = np.hypot(A[..., 2, 0], A[..., 2, 1])
    regular = sy > 1e-9
    tdrot = np.where(regular, np.arctan2(A[..., 2, 0], A[..., 2, 1]), np.arctan2(-A[..., 0, 1], A[..., 0, 0]))
    tilt = np.arctan2(sy, A[..., 2, 2])
    narot = np.where(regular, np.arctan2(A[..., 0, 2], -A[..., 1, 2]), 0.0)
    return np.rad2deg(np.stack([tdrot, tilt, narot], -1))
