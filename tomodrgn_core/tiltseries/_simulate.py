"""simulate_tomogram_tilt_series: a small tomogram of Gaussian-blob particles seen through a tilt series.

Everything is analytic (a blob projects to a 2D Gaussian along any direction), so the whole tilt images
and the per-particle reference projections are exact and share no code path but the blob model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import physics as P
from ..simulate._blobs import pad_models, project_blobs, render_volumes
from ..simulate._dataset import _class_models, random_rotations
from ..simulate._tilts import dose_symmetric_scheme
from ._geometry import TiltGeometry, image_centre, particle_tilt_poses, projection_rotations, transforms_from_axis


@dataclass
class TomogramSimulation:
    stack: np.ndarray        # (nt, H, W) float32 raw tilt images (dark protein), frames in tilt-angle order
    geometry: TiltGeometry
    tomo_shape: tuple        # (X, Y, Z) px
    coords: np.ndarray       # (n, 3) px, centred on the tomogram centre
    poses: np.ndarray        # (n, 3, 3) particle poses A_p
    labels: np.ndarray       # (n,) class of each particle
    volumes: np.ndarray      # (n_classes, box, box, box) ground truth
    direct: np.ndarray       # (n, nt, box, box) centred projections with A_f of particle_tilt_poses (white protein)
    box: int


def simulate_tomogram_tilt_series(n_particles: int = 8, tomo_shape=(256, 256, 64), box: int = 32,
                                  pixel_size: float = 10.0, n_classes: int = 2, max_tilt: float = 60.0,
                                  tilt_step: float = 6.0, dose_per_tilt: float = 3.0, tilt_axis: float = 85.0,
                                  max_shift_px: float = 4.0, snr: float | None = None, seed: int = 0,
                                  defocus=25000.0, coords=None, ctf: bool = False, voltage: float = 300.0,
                                  cs: float = 2.7, amp_contrast: float = 0.1,
                                  class_seed: int | None = None) -> TomogramSimulation:
    """Particles at random positions (inside the volume seen by every tilt unless ``coords`` (n, 3) centred px
    are given), random orientations, classes from tomodrgn_core.simulate's blob models; a dose-symmetric
    tilt series with tilt-axis angle ``tilt_axis`` and random per-tilt alignment shifts; Gaussian noise to
    ``snr`` (None = noiseless). ``ctf``: every tilt image is filtered by its CTF (``defocus`` in A: one value,
    or one per tilt in tilt-angle order, as CTF estimation reports it; no defocus gradient) and its exposure
    attenuation before the noise, and ``direct`` holds -(filtered boxed projections), what an extracted,
    inverted particle image is (the convention of tomodrgn_core.simulate); else defocus is metadata only.
    ``class_seed``: draw the class models from this seed instead (the same classes in several tomograms)."""
    rng = np.random.default_rng(seed)
    X, Y, Z = tomo_shape
    models = _class_models(box, n_classes, rng if class_seed is None else np.random.default_rng(class_seed))
    labels = rng.integers(0, n_classes, size=n_particles)
    if coords is None:
        coords = _separated_coords(n_particles, tomo_shape, box, max_shift_px, max_tilt, rng)
    coords = np.asarray(coords, float)
    poses = random_rotations(len(coords), rng)
    angles, doses = dose_symmetric_scheme(max_tilt, tilt_step, dose_per_tilt)
    order = np.argsort(angles)  # stack frames in tilt-angle order, as Scipion tilt series usually are
    nt = len(order)
    geom = TiltGeometry(tilt_angles=angles[order], dose=doses[order],
                        transforms=transforms_from_axis(tilt_axis, rng.uniform(-max_shift_px, max_shift_px, (nt, 2))),
                        image_shape=(Y, X), defocus_u=np.broadcast_to(defocus, nt).astype(float),
                        defocus_v=np.broadcast_to(defocus, nt).astype(float),
                        defocus_angle=np.zeros(nt), pixel_size=pixel_size)
    c, s, a = pad_models([models[k] for k in labels])  # (n, nb, 3) blob centres in the particle frame
    # blob centres in the tomogram: a reference point c sits at A_p (H c), H = diag(1, 1, hand): the specimen of a
    # hand -1 series is the mirror of what its geometry reconstructs (physics/_geometry.py)
    world = coords[:, None, :] + np.einsum("nij,nbj->nbi", poses, c @ P.hand_matrix(geom.hand))
    R, shifts = projection_rotations(geom)
    ax_x, ax_y = np.arange(X, dtype=float), np.arange(Y, dtype=float)
    stack = np.empty((nt, Y, X), np.float32)
    w = (a * np.sqrt(2 * np.pi) * s).reshape(-1)
    sg = s.reshape(-1, 1)
    for t in range(nt):  # separable Gaussians: (n_blobs, Y) x (n_blobs, X)
        p = np.einsum("ij,mj->mi", R[t, :2], world.reshape(-1, 3)) + shifts[t] + image_centre((Y, X))
        gx = np.exp(-(ax_x - p[:, :1]) ** 2 / (2 * sg * sg))
        gy = np.exp(-(ax_y - p[:, 1:]) ** 2 / (2 * sg * sg))
        stack[t] = -np.einsum("m,my,mx->yx", w, gy, gx)
    if ctf:  # a micrograph is CTF * projection (CTF < 0 at low frequency: dark protein), not CTF * (-projection)
        stack = -_ctf_filter(stack, geom, voltage, cs, amp_contrast)
    if snr is not None:
        stack += rng.normal(scale=np.sqrt(stack.var() / snr), size=stack.shape).astype(np.float32)
    A = particle_tilt_poses(poses, geom).reshape(-1, 3, 3)
    rep = np.repeat(np.arange(len(coords)), nt)
    direct = project_blobs(c[rep], s[rep], a[rep], A, box).reshape(len(coords), nt, box, box)
    if ctf:  # as stored after extraction (inverted): -(CTF * attenuation * projection), the simulator's convention
        direct = -np.stack([_ctf_filter(d, geom, voltage, cs, amp_contrast) for d in direct])
    return TomogramSimulation(stack, geom, tuple(tomo_shape), coords, poses, labels,
                              render_volumes(models, box), direct, box)


def _ctf_filter(images: np.ndarray, geom: TiltGeometry, voltage: float, cs: float, amp_contrast: float) -> np.ndarray:
    """(nt, H, W) images (one per tilt, any shape) times each tilt's CTF and exposure attenuation, in Fourier space."""
    nt, H, W = images.shape
    ky, kx = np.meshgrid(np.fft.fftfreq(H), np.fft.fftfreq(W), indexing="ij")
    freqs = torch.as_tensor(np.stack([kx, ky], -1).reshape(-1, 2) / geom.pixel_size)
    weight = P.compute_ctf(freqs, geom.defocus_u, geom.defocus_v, geom.defocus_angle, voltage, cs, amp_contrast)
    weight = weight * P.dose_attenuation(torch.as_tensor(np.asarray(geom.dose, float)), freqs.norm(dim=-1), voltage)
    f = np.fft.fft2(images.astype(np.float64)) * weight.reshape(nt, H, W).numpy()
    return np.fft.ifft2(f).real.astype(np.float32)


def _separated_coords(n: int, tomo_shape, box: int, max_shift_px: float, max_tilt: float,
                      rng: np.random.Generator) -> np.ndarray:
    """One particle per band along the tilt axis (y), 1.25 box apart, so no two particles' projections overlap
    at any tilt; all inside the disc whose tilted, rotated and shifted boxes stay in the image."""
    X, Y, Z = tomo_shape
    radius = min(X, Y) / 2 - 0.75 * box - max_shift_px
    sep = 1.25 * box
    if n * sep > 2 * radius:
        raise ValueError(f"{n} particles of box {box} do not fit apart in a {X}x{Y} tomogram; use fewer or a larger one")
    y = (np.arange(n) - (n - 1) / 2) * sep
    z = rng.uniform(-(Z - box) / 2, (Z - box) / 2, n) if Z > box else np.zeros(n)
    half = np.sqrt(np.maximum(radius ** 2 - y ** 2, 0))  # the disc's half-width at this y
    xmax = np.maximum(half - np.abs(z) * np.sin(np.deg2rad(max_tilt)) - box / 2, 0) / max(np.cos(np.deg2rad(max_tilt)), 0.1)
    x = rng.uniform(-1, 1, n) * np.minimum(xmax, half - box / 2).clip(0)
    return np.stack([x, rng.permutation(y), z], -1)
