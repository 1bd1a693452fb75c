"""simulate(): a small, realistic tilt-series particle dataset with known classes, in memory."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from .. import physics as P
from ..errors import TomoDrgnInputError
from ..io import _schema as S
from ._blobs import BlobModel, domain, pad_models, project_blobs, random_molecule, render_volumes
from ._tilts import dose_symmetric_scheme


@dataclass
class SimulatedDataset:
    table: pd.DataFrame          # canonical particle table (one row per tilt image)
    images: np.ndarray           # (n_rows, D, D) float32, contrast-inverted (white protein) like Warp
    volumes: np.ndarray          # (n_classes, D, D, D) ground truth
    labels: np.ndarray           # (n_particles,) class of each particle
    particle_poses: np.ndarray   # (n_particles, 3, 3) A_p (tomogram frame)
    stage_tilts: np.ndarray      # (n_tilts,) acquisition order
    doses: np.ndarray            # (n_tilts,)
    tomo_of_particle: np.ndarray  # (n_particles,) int
    visible: np.ndarray          # (n_particles, n_tilts) bool
    defocus: np.ndarray          # (n_tomos, n_tilts) A
    continuous: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n_particles,) motion parameter
    pixel_size: float = 1.0
    models: list = field(default_factory=list)
    defocus_u: np.ndarray | None = None      # (n_tomos, n_tilts) A
    defocus_v: np.ndarray | None = None      # (n_tomos, n_tilts) A
    defocus_angle: np.ndarray | None = None  # (n_tomos, n_tilts) deg
    offsets: np.ndarray | None = None        # (n_particles, 3) particle offset in the tomogram frame, px
    motion_domain: BlobModel | None = None   # the sliding domain at t = 0 (continuous=True)

    def volume_at(self, label: int, t: float) -> np.ndarray:
        """Ground truth of class ``label`` with the sliding domain at motion parameter ``t`` (D, D, D)."""
        box = self.images.shape[-1]
        model = self.models[label]
        if self.motion_domain is not None:
            model = model + moving_domain(self.motion_domain, t, box)
        return render_volumes([model], box)[0]


def moving_domain(move: BlobModel, t: float, box: int) -> BlobModel:
    """The sliding domain displaced by t * 0.15 box along x (t in [0, 1])."""
    return BlobModel(move.centers + t * np.array([0.15 * box, 0.0, 0.0]), move.sigmas, move.amps)


def random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform rotations on SO(3) from random unit quaternions."""
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1)], -2)


def _class_models(box: int, n_classes: int, rng: np.random.Generator) -> list[BlobModel]:
    """Class 0 is the core; class k >= 1 adds domains 1..k (presence of domains, as assembly states)."""
    core = random_molecule(box, 24, rng)
    dirs = [np.array([1.0, 0.3, 0.2]), np.array([-0.4, 1.0, -0.3]), np.array([0.2, -0.5, 1.0]),
            np.array([-1.0, -0.6, 0.4])]
    doms = [domain(box, dirs[k % len(dirs)], 6, rng) for k in range(max(0, n_classes - 1))]
    models = [core]
    for k in range(1, n_classes):
        m = core
        for d in doms[:k]:
            m = m + d
        models.append(m)
    return models


def simulate(n_particles: int = 100, box: int = 32, pixel_size: float = 8.0, n_classes: int = 2,
             snr: float | None = 0.1, seed: int = 0, max_tilt: float = 60.0, tilt_step: float = 3.0,
             dose_per_tilt: float = 3.0, n_tomos: int = 2, drop_tilts: int = 0, max_shift_px: float = 0.0,
             continuous: bool = False, defocus_range=(15000.0, 35000.0), max_astigmatism: float = 300.0,
             structural_snr: float | None = None, clustered_class: int | None = None, n_clusters: int = 3,
             cluster_radius: float = 300.0,
             voltage: float = 300.0, cs: float = 2.7, amp_contrast: float = 0.1) -> SimulatedDataset:
    """Simulate particles: random poses, dose-symmetric tilts, CTF, dose attenuation, cos(tilt) signal loss,
    Gaussian noise to ``snr`` (signal variance / noise variance over the untilted images; None = noiseless),
    ``drop_tilts`` random tilts removed per particle (variable tilt counts), optional particle offsets and a
    continuous motion (``continuous=True``: every particle also carries a domain displaced by its parameter
    t in [0, 1]; ``volumes`` then show it at t = 0.5, ``volume_at(label, t)`` anywhere).

    Defocus (U/V/angle) is per tomogram and tilt (``defocus_range`` across tomograms, +-500 A per tilt,
    astigmatism up to ``max_astigmatism``), as CTF estimation gives it, so the RELION 5 layout holds it
    exactly. ``max_shift_px`` draws a 3D offset d per particle (tomogram frame, px: the particle sits at its
    coordinate + d); each tilt image shows it at box centre + (R_y(tilt) d)[:2] and records RELION's origin
    -(R_y(tilt) d)[:2] (the particle sits at box centre - origin: physics/_geometry.py), in the Warp and the RELION 5
    layout alike (3D origin -d).
    ``structural_snr`` (None = off) adds white noise to the projections BEFORE the CTF (specimen/ice
    variation, Baxter et al. 2009), scaled so that signal/structural-noise variance in the final untilted
    images is ``structural_snr`` (>= snr); shot noise after the CTF brings the total to ``snr``.
    Tomogram coordinates (A, in a 4000 A cube) are uniform; ``clustered_class`` k instead places class k's particles
    in ``n_clusters`` balls of ``cluster_radius`` A per tomogram (a spatially clustered class, for spatial_stats).
    """
    rng = np.random.default_rng(seed)
    models = _class_models(box, n_classes, rng)
    labels = rng.integers(0, n_classes, size=n_particles)
    motion = rng.uniform(0, 1, size=n_particles) if continuous else np.zeros(n_particles)
    per_particle = [models[k] for k in labels]
    move = None
    if continuous:  # each particle's class plus a domain sliding along the surface by up to 0.15 box
        move = domain(box, np.array([0.0, 0.0, 1.0]), 6, np.random.default_rng(seed + 1))
        per_particle = [models[k] + moving_domain(move, t, box) for k, t in zip(labels, motion)]
    angles, doses = dose_symmetric_scheme(max_tilt, tilt_step, dose_per_tilt)
    nt = len(angles)
    A_p = random_rotations(n_particles, rng)
    # (nt, 3, 3) right-handed rotation by +tilt about y: RELION 5's rlnTomoYTilt (= euler_to_matrix(0, -tilt, 0))
    stage = P.euler_to_matrix(np.zeros(nt), -angles, np.zeros(nt))
    A = np.einsum("tij,njk->ntik", stage, A_p).reshape(-1, 3, 3)
    tomo = rng.integers(0, n_tomos, size=n_particles)
    defocus = rng.uniform(*defocus_range, size=(n_tomos, 1)) + rng.normal(0, 500, size=(n_tomos, nt))
    visible = np.ones((n_particles, nt), bool)
    for i in range(n_particles):  # choose which tilts each particle loses (metadata only)
        if drop_tilts:
            visible[i, rng.choice(np.arange(1, nt), size=drop_tilts, replace=False)] = False
    c, s, a = pad_models(per_particle)
    rep = np.repeat(np.arange(n_particles), nt)
    proj = project_blobs(c[rep], s[rep], a[rep], A, box)
    offsets = np.zeros((n_particles, 3))
    if max_shift_px:
        offsets = rng.uniform(-max_shift_px, max_shift_px, size=(n_particles, 3))
    shifts = np.einsum("tij,nj->nti", stage, offsets)[..., :2].reshape(-1, 2)  # where each particle sits, px

    astig = rng.uniform(0, max_astigmatism, size=(n_tomos, nt))
    ang_astig = rng.uniform(0, 180, size=(n_tomos, nt))
    dfu, dfv = (defocus + astig / 2)[tomo].reshape(-1), (defocus - astig / 2)[tomo].reshape(-1)
    dfang = ang_astig[tomo].reshape(-1)
    dose_rows = np.tile(doses, n_particles)
    tilt_rows = np.tile(angles, n_particles)
    cos_t = np.cos(np.deg2rad(tilt_rows))[:, None, None].astype(np.float32)
    form = lambda x: _form_images(x, box, pixel_size, dfu, dfv, dfang, dose_rows, shifts, voltage, cs,  # noqa: E731
                                  amp_contrast) * cos_t
    images = form(proj)
    if snr is not None:
        signal_var = images[tilt_rows == 0].var()
        noise_var = signal_var / snr
        if structural_snr is not None:  # specimen noise goes through the microscope (CTF, dose) like signal
            if structural_snr < snr:
                raise TomoDrgnInputError(f"structural_snr {structural_snr} is below the total snr {snr}",
                                         fix="give a structural SNR >= the total SNR (it is one part of the noise)")
            struct = form(rng.normal(size=proj.shape).astype(np.float32))
            struct *= np.float32(np.sqrt(signal_var / structural_snr / struct[tilt_rows == 0].var()))
            noise_var -= signal_var / structural_snr
            images += struct
        images += rng.normal(scale=np.sqrt(noise_var), size=images.shape).astype(np.float32)

    eul = P.matrix_to_euler(A)
    tomo_names = np.array([f"tomo{t:02d}" for t in range(n_tomos)])
    coords = rng.uniform(0, 4000, size=(n_particles, 3))
    if clustered_class is not None:
        if not 0 <= clustered_class < n_classes:
            raise TomoDrgnInputError(f"clustered class {clustered_class} of {n_classes} classes",
                                     fix=f"choose a class 0..{n_classes - 1}")
        coords = _clustered(coords, labels == clustered_class, tomo, n_tomos, n_clusters, cluster_radius, seed)
    table = pd.DataFrame({
        S.PARTICLE_INDEX: rep, S.PARTICLE_ID: [f"{tomo_names[tomo[i]]}_{i:05d}" for i in rep],
        S.TOMO_ID: tomo_names[tomo[rep]], S.IMAGE_PATH: "", S.IMAGE_INDEX: np.arange(len(rep)),
        S.PIXEL_SIZE: pixel_size, S.BOX: box, S.ROT: eul[:, 0], S.TILT: eul[:, 1], S.PSI: eul[:, 2],
        S.SHIFT_X: -shifts[:, 0] * pixel_size, S.SHIFT_Y: -shifts[:, 1] * pixel_size,  # RELION origin = -position
        S.DEFOCUS_U: dfu, S.DEFOCUS_V: dfv, S.DEFOCUS_ANGLE: dfang,
        S.VOLTAGE: voltage, S.CS: cs, S.AMP_CONTRAST: amp_contrast, S.PHASE_SHIFT: 0.0,
        S.DOSE: dose_rows, S.TILT_ANGLE: tilt_rows, S.TILT_WEIGHT: np.cos(np.deg2rad(tilt_rows)),
        S.VISIBLE: visible.reshape(-1), S.COORD_X: coords[rep, 0], S.COORD_Y: coords[rep, 1],
        S.COORD_Z: coords[rep, 2],
    })
    keep = visible.reshape(-1)
    table = table[keep].reset_index(drop=True)
    table[S.IMAGE_INDEX] = np.arange(len(table))
    gt_models = models if move is None else [m + moving_domain(move, 0.5, box) for m in models]
    return SimulatedDataset(table, images[keep], render_volumes(gt_models, box), labels, A_p, angles, doses, tomo,
                            visible, defocus, motion, pixel_size, models, defocus + astig / 2, defocus - astig / 2,
                            ang_astig, offsets, move)


def _clustered(coords, members, tomo, n_tomos, n_clusters, radius, seed) -> np.ndarray:
    """``coords`` with the ``members`` moved into ``n_clusters`` uniform balls of ``radius`` A per tomogram (own
    generator: the rest of the simulation, and every particle outside the class, stays as without clusters)."""
    if n_clusters < 1 or radius <= 0:
        raise TomoDrgnInputError(f"{n_clusters} clusters of radius {radius} A", fix="give at least 1 cluster, radius > 0")
    crng = np.random.default_rng(seed + 2)
    centres = crng.uniform(radius, 4000 - radius, size=(n_tomos, n_clusters, 3))
    idx = np.flatnonzero(members)
    which = crng.integers(0, n_clusters, size=len(idx))
    direction = crng.normal(size=(len(idx), 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    r = radius * crng.uniform(size=(len(idx), 1)) ** (1 / 3)  # uniform in the ball
    out = coords.copy()
    out[idx] = centres[tomo[idx], which] + direction * r
    return out


def _form_images(proj, box, pixel_size, dfu, dfv, dfang, dose, shifts_px, voltage, cs, w) -> np.ndarray:
    """-(CTF * dose attenuation * FT(projection)), moved by ``shifts_px`` (the particle's position); batched."""
    lat = P.lattice_2d(box, dtype=torch.float64)[:, :2]
    freqs = lat / pixel_size
    kmag = freqs.norm(dim=-1)
    out = np.empty_like(proj)
    for s0 in range(0, len(proj), 2048):
        sl = slice(s0, s0 + 2048)
        f = P.fft2_center(torch.as_tensor(proj[sl], dtype=torch.float64)).reshape(-1, box * box)
        weight = P.dose_attenuation(torch.as_tensor(dose[sl]), kmag, voltage)
        weight = weight * P.compute_ctf(freqs, dfu[sl], dfv[sl], dfang[sl], voltage, cs, w)
        phase = torch.exp(-2j * torch.pi * (lat @ torch.as_tensor(shifts_px[sl], dtype=torch.float64).T).T)
        img = P.ifft2_center((f * weight * phase).reshape(-1, box, box)).real
        out[sl] = (-img).numpy().astype(np.float32)
    return out
