"""Extraction of particle tilt images from whole simulated tilt series (tomodrgn_core.tiltseries)."""
import numpy as np
import pytest
import torch

from tomodrgn_core.io import load_particles
from tomodrgn_core.io import _schema as S
from tomodrgn_core.physics import euler_to_matrix
from tomodrgn_core.physics.resample import fourier_crop_2d
from tomodrgn_core.analysis.metrics import fsc
from tomodrgn_core.reconstruct import backproject, shift_images
from tomodrgn_core.simulate._blobs import pad_models, project_blobs
from tomodrgn_core.simulate._dataset import _class_models
from tomodrgn_core.tiltseries import (TomogramParticles, build_image_series_table, extract_particle_tilts,
                                      prepare_image_series, project_positions, simulate_tomogram_tilt_series)

BOX = 24


@pytest.fixture(scope="module")
def sim():
    return simulate_tomogram_tilt_series(n_particles=6, tomo_shape=(256, 256, 48), box=BOX, seed=3)


def unshift(images: np.ndarray, origins_px: np.ndarray) -> np.ndarray:
    """Move the particle centre (box centre - origin, RELION's rule) back to the box centre (shift by +origin)."""
    return shift_images(torch.as_tensor(images, dtype=torch.float64),
                        torch.as_tensor(origins_px, dtype=torch.float64)).numpy()


def ccs(a, b):
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def table_projections(sim, table):
    """Project each particle's blob model with the table's own pose (Eulers) and shift: independent of how
    the tilt stack was rendered (whole tomogram, world coordinates)."""
    models = _class_models(sim.box, 2, np.random.default_rng(3))
    c, s, a = pad_models([models[k] for k in sim.labels])
    p = table[S.PARTICLE_INDEX].to_numpy()
    A = euler_to_matrix(table[S.ROT], table[S.TILT], table[S.PSI])
    return project_blobs(c[p], s[p], a[p], A, sim.box)


def test_extracted_images_match_direct_projections_and_table_poses(sim):
    pos = project_positions(sim.coords, sim.geometry)
    ext = extract_particle_tilts(sim.stack, pos, BOX)
    assert ext.visible.all() and ext.n_dropped == 0
    assert np.abs(ext.origins).max() <= 0.5 and np.abs(ext.origins).max() > 0.2  # sub-pixel residuals recorded
    centred = unshift(ext.images.reshape(-1, BOX, BOX), ext.origins.reshape(-1, 2))
    assert ccs(centred, sim.direct.reshape(-1, BOX, BOX)).min() > 0.95
    # without the residual shift the match is worse: the origin is real information
    assert ccs(ext.images.reshape(-1, BOX, BOX), sim.direct.reshape(-1, BOX, BOX)).mean() < \
        ccs(centred, sim.direct.reshape(-1, BOX, BOX)).mean()
    table = build_image_series_table(sim.geometry, sim.poses, sim.coords, ext, "tomo0")
    shifts = table[[S.SHIFT_X, S.SHIFT_Y]].to_numpy() / table[S.PIXEL_SIZE].to_numpy()[:, None]
    got = unshift(ext.images.reshape(-1, BOX, BOX), shifts)
    assert ccs(got, table_projections(sim, table)).min() > 0.95
    assert np.allclose(table[S.TILT_WEIGHT], np.cos(np.deg2rad(table[S.TILT_ANGLE])))
    assert table.groupby(S.PARTICLE_INDEX)[S.DOSE].apply(lambda d: np.allclose(d, sim.geometry.dose)).all()


def test_binning_by_fourier_cropping(sim):
    pos = project_positions(sim.coords, sim.geometry)
    ext = extract_particle_tilts(sim.stack, pos, BOX, binning=2)
    assert ext.images.shape[-1] == BOX // 2
    centred = unshift(ext.images.reshape(-1, BOX // 2, BOX // 2), ext.origins.reshape(-1, 2))
    ref = fourier_crop_2d(sim.direct.reshape(-1, BOX, BOX), BOX // 2)
    assert ccs(centred, ref).min() > 0.95
    table = build_image_series_table(sim.geometry, sim.poses, sim.coords, ext, "tomo0")
    assert np.allclose(table[S.PIXEL_SIZE], 2 * sim.geometry.pixel_size)


def test_normalisation_of_the_background_ring(sim):
    pos = project_positions(sim.coords, sim.geometry)
    noisy = sim.stack + 5.0 + np.random.default_rng(0).normal(scale=0.3, size=sim.stack.shape).astype(np.float32)
    ext = extract_particle_tilts(noisy, pos, BOX, normalise=True)
    ax = np.arange(BOX) - BOX // 2
    ring = (ax[None] ** 2 + ax[:, None] ** 2) > (0.75 * BOX / 2) ** 2
    bg = ext.images[..., ring]
    assert np.abs(bg.mean(-1)).max() < 1e-4 and np.abs(bg.std(-1) - 1).max() < 1e-3


def test_edge_particles_lose_tilts_and_written_star_rereads(sim, tmp_path):
    # particle 0 leaves the image at low tilt only, particle 1 lies outside at every tilt
    coords = np.array([[0.0, 0.0, 0.0], [150.0, 0.0, 0.0], [0.0, 140.0, 0.0]])
    edge = simulate_tomogram_tilt_series(n_particles=3, tomo_shape=(256, 256, 48), box=BOX, seed=4, coords=coords,
                                         max_tilt=60, tilt_step=10)
    pos = project_positions(edge.coords, edge.geometry)
    ext = extract_particle_tilts(edge.stack, pos, BOX)
    assert ext.visible[0].all()
    assert ext.visible[1].any() and not ext.visible[1].all()
    assert not ext.visible[2].any()
    assert not ext.visible[1][np.argmin(np.abs(edge.geometry.tilt_angles))]  # at 0 deg it is outside
    tp = TomogramParticles("TS_01", edge.stack, edge.geometry, edge.coords, edge.poses, ["a", "b", "c"])
    rep = prepare_image_series([tp], BOX, tmp_path / "particles.star", normalise=False)
    assert rep.n_particles == 2 and rep.dropped_particles == ["c"]
    assert rep.dropped_tilts == int((~ext.visible).sum())
    ps = load_particles(rep.star)
    assert ps.n_particles == 2
    assert list(ps.ntilts) == [int(ext.visible[0].sum()), int(ext.visible[1].sum())]
    t = ps.table
    assert np.allclose(t[[S.ROT, S.TILT, S.PSI]].to_numpy(), rep.table[[S.ROT, S.TILT, S.PSI]].to_numpy(), atol=1e-3)
    assert np.allclose(t[S.PIXEL_SIZE], edge.geometry.pixel_size)
    stored = ps.images(np.arange(len(t)))
    assert np.allclose(stored, ext.images[ext.visible[:2].nonzero()[0], ext.visible[:2].nonzero()[1]], atol=1e-5)
    # the written images, centred with the re-read shifts, are the particle projections
    centred = unshift(stored, t[[S.SHIFT_X, S.SHIFT_Y]].to_numpy() / edge.geometry.pixel_size)
    assert ccs(centred, edge.direct[:2][ext.visible[:2]]).min() > 0.95


def test_geometry_is_relion5_projection_of_reliontomo_values():
    """R_f / s_f / A_f equal what RELION 5 builds from the values scipion-em-reliontomo writes for a Scipion tilt
    series (rlnTomoYTilt = tilt, rlnTomoZRot = atan2(M01, M00), shifts inv(M)[:2, 2]), with right-handed
    rotations, and A_f is the RELION 5 reader's H @ R @ A_p @ H for reliontomo's default hand -1, H = diag(1, 1, -1)."""
    from tomodrgn_core.tiltseries import TiltGeometry, particle_tilt_poses, projection_rotations, transforms_from_axis

    rng = np.random.default_rng(0)
    tilts = np.array([-50.0, -10.0, 0.0, 25.0])
    M = transforms_from_axis(rng.uniform(-90, 90, 4), rng.uniform(-20, 20, (4, 2)))
    geom = TiltGeometry(tilts, M, (200, 300), np.arange(4.0), np.zeros(4), np.zeros(4), np.zeros(4), 5.0)
    R, s = projection_rotations(geom)
    for f in range(4):
        zrot, t = np.arctan2(M[f, 0, 1], M[f, 0, 0]), np.deg2rad(tilts[f])
        Rz = np.array([[np.cos(zrot), -np.sin(zrot), 0], [np.sin(zrot), np.cos(zrot), 0], [0, 0, 1]])
        Ry = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
        assert np.allclose(R[f], Rz @ Ry)
        assert np.allclose(s[f], np.linalg.inv(M[f])[:2, 2])
    A_p = euler_to_matrix(*rng.uniform(-180, 180, (3, 5)))
    A_f = particle_tilt_poses(A_p, geom)
    H = np.diag([1.0, 1.0, -1.0])
    assert np.allclose(A_f, H @ R[None] @ A_p[:, None] @ H)
    # the tilt axis: a raw-image direction at the axis angle (ccw from y) maps onto the aligned y axis
    axis = transforms_from_axis(30.0)[0]
    v = np.array([-np.sin(np.deg2rad(30.0)), np.cos(np.deg2rad(30.0))])
    assert np.allclose(axis[:2, :2] @ v, [0.0, 1.0])


def test_ctf_of_each_tilt_follows_its_image_into_the_table():
    # every tilt at its own defocus (2-6 um): a back-projection with the table's CTFs recovers the particle;
    # the same images with the defocus values handed to the wrong tilts do not
    nt = 21  # +-60 in steps of 6
    defocus = np.linspace(20000.0, 60000.0, nt)[np.random.default_rng(0).permutation(nt)]
    sim = simulate_tomogram_tilt_series(n_particles=6, tomo_shape=(256, 256, 48), box=BOX, seed=3, ctf=True,
                                        defocus=defocus, pixel_size=4.0)  # 4 A px: CTFs oscillate within the band
    ext = extract_particle_tilts(sim.stack, project_positions(sim.coords, sim.geometry), BOX)
    centred = unshift(ext.images.reshape(-1, BOX, BOX), ext.origins.reshape(-1, 2))
    # stored = -(CTF * attenuation * projection); not exactly: the CTF delocalises signal out of the box
    assert ccs(centred, sim.direct.reshape(-1, BOX, BOX)).min() > 0.95
    table = build_image_series_table(sim.geometry, sim.poses, sim.coords, ext, "tomo0")
    assert np.allclose(np.sort(table[S.DEFOCUS_U].unique()), np.sort(defocus))
    one = np.flatnonzero(sim.labels[table[S.PARTICLE_INDEX].to_numpy()] == sim.labels[0])  # particles of one class
    images, t = ext.images.reshape(-1, BOX, BOX)[one], table.iloc[one].reset_index(drop=True)
    gt = sim.volumes[sim.labels[0]]
    mid = slice(3, 8)  # shells 3-7 of 12: where the 2-6 um CTFs oscillate and the blobs still have signal
    good = fsc(backproject(images, t), gt)[1][mid]  # default flags: invert, CTF-correct
    wrong = t.copy()
    for col in (S.DEFOCUS_U, S.DEFOCUS_V):
        wrong[col] = np.roll(t[col].to_numpy(), 7)
    bad = fsc(backproject(images, wrong), gt)[1][mid]
    assert good.min() > 0.7 and bad.mean() < 0.4, (good, bad)
