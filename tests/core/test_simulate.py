"""The simulator: tilt scheme, noise model, classes/motion, and its two written layouts re-read exactly."""
import numpy as np
import pytest
import torch

from tomodrgn_core import physics as P
from tomodrgn_core.cli import main as cli_main
from tomodrgn_core.errors import TomoDrgnInputError
from tomodrgn_core.io import load_particles, read_volume
from tomodrgn_core.io import _schema as S
from tomodrgn_core.simulate import dose_symmetric_scheme, simulate, simulate_dataset
from tomodrgn_core.simulate._blobs import project_blobs, render_volumes


def test_dose_symmetric_scheme():
    angles, dose = dose_symmetric_scheme(60, 3, 3.0)
    assert list(angles[:7]) == [0, 3, -3, -6, 6, 9, -9]
    assert len(angles) == 41 and sorted(angles) == list(np.arange(-60, 61, 3))
    assert dose[0] == 0 and dose[-1] == 120


def test_analytic_projection_equals_summed_rendered_volume():
    # the projection of the rendered volume along z (identity pose) is the analytic 2D Gaussian
    c, s, a = np.array([[[3.0, -2.0, 1.0], [-4.0, 1.0, -3.0]]]), np.array([[1.5, 2.0]]), np.array([[1.0, 0.7]])
    from tomodrgn_core.simulate import BlobModel
    vol = render_volumes([BlobModel(c[0], s[0], a[0])], 24)[0]
    proj = project_blobs(c, s, a, np.eye(3)[None], 24)[0]
    assert np.allclose(vol.sum(0), proj, atol=1e-3 * proj.max())
    # a 90 degree tilt about y maps x -> -z: the blob at x=3 lands at image x = 0 + ... (A c)[:2]
    A = P.euler_to_matrix(np.array([0.0]), np.array([90.0]), np.array([0.0]))
    p = project_blobs(c[:, :1], s[:, :1], a[:, :1], A, 24)[0]
    y, x = np.unravel_index(p.argmax(), p.shape)
    expect = (A[0] @ c[0, 0])[:2]
    assert (x - 12, y - 12) == tuple(np.round(expect).astype(int))


def expected_images(sim, models) -> np.ndarray:
    """Image formation written out from the table: -(CTF * dose * FT(projection)) with the particle at box centre
    - origin (RELION's rule: moved by -origin), * cos(tilt)."""
    t, D, n = sim.table, sim.images.shape[-1], len(sim.table)
    A = P.euler_to_matrix(t[S.ROT].to_numpy(), t[S.TILT].to_numpy(), t[S.PSI].to_numpy())
    from tomodrgn_core.simulate._blobs import pad_models
    c, s, a = pad_models(models)
    proj = project_blobs(c, s, a, A, D)
    lat = P.lattice_2d(D, dtype=torch.float64)[:, :2]
    ctf = P.compute_ctf(lat / sim.pixel_size, t[S.DEFOCUS_U].to_numpy(), t[S.DEFOCUS_V].to_numpy(),
                        t[S.DEFOCUS_ANGLE].to_numpy(), 300.0, 2.7, 0.1)
    att = P.dose_attenuation(torch.tensor(t[S.DOSE].to_numpy()), lat.norm(dim=-1) / sim.pixel_size)
    sh = torch.as_tensor(t[[S.SHIFT_X, S.SHIFT_Y]].to_numpy() / sim.pixel_size)
    f = P.fft2_center(torch.as_tensor(proj, dtype=torch.float64)).reshape(n, -1) * ctf * att
    f = f * torch.exp(2j * torch.pi * (sh @ lat.T))  # content moved by -origin
    cos_t = np.cos(np.deg2rad(t[S.TILT_ANGLE].to_numpy()))[:, None, None]
    return -P.ifft2_center(f.reshape(n, D, D)).real.numpy() * cos_t


def test_images_follow_the_formation_model_and_table():
    sim = simulate(n_particles=3, box=24, n_classes=2, snr=None, seed=4, max_tilt=12, max_shift_px=2.0)
    t = sim.table
    expect = expected_images(sim, [sim.models[sim.labels[i]] for i in t[S.PARTICLE_INDEX]])
    assert np.allclose(sim.images, expect, atol=1e-4 * np.abs(expect).max())
    assert (t[S.DEFOCUS_U] >= t[S.DEFOCUS_V]).all() and t[S.DEFOCUS_U].between(14000, 37000).all()
    assert np.allclose(t[S.TILT_WEIGHT], np.cos(np.deg2rad(t[S.TILT_ANGLE])))
    # origins are minus the projections of one 3D offset d per particle (it sits at its coordinate + d): -(R d)[:2],
    # R = the right-handed rotation by +tilt about y, [[c, 0, s], [0, 1, 0], [-s, 0, c]] (RELION 5's rlnTomoYTilt)
    o = sim.offsets[t[S.PARTICLE_INDEX]] * sim.pixel_size
    th = np.deg2rad(t[S.TILT_ANGLE].to_numpy())
    assert np.allclose(t[S.SHIFT_X], -(np.cos(th) * o[:, 0] + np.sin(th) * o[:, 2]))
    assert np.allclose(t[S.SHIFT_Y], -o[:, 1])
    assert t[S.SHIFT_X].abs().max() > 1.0


def test_noise_reaches_requested_snr():
    clean = simulate(n_particles=20, box=24, snr=None, seed=2, max_tilt=9)
    noisy = simulate(n_particles=20, box=24, snr=0.5, seed=2, max_tilt=9)
    zero = (clean.table.tilt_angle == 0).to_numpy()
    signal = clean.images[zero].var()
    noise = (noisy.images - clean.images)[zero].var()
    assert 0.4 < signal / noise < 0.6


def test_structural_noise_goes_through_the_ctf_and_total_snr_holds():
    kw = dict(n_particles=40, box=24, seed=6, max_tilt=0, n_tomos=1, max_astigmatism=0.0)
    clean = simulate(snr=None, **kw)
    shot = simulate(snr=0.5, **kw)
    both = simulate(snr=0.5, structural_snr=0.6, **kw)
    signal = clean.images.var()
    assert 0.4 < signal / (both.images - clean.images).var() < 0.6
    with pytest.raises(TomoDrgnInputError, match="structural"):
        simulate(snr=0.5, structural_snr=0.2, **kw)
    # the noise power spectrum follows CTF^2 when part of it was added before the CTF, is flat otherwise
    t = clean.table.iloc[:1]
    lat = P.lattice_2d(24, dtype=torch.float64)[:, :2]
    ctf2 = P.compute_ctf(lat / clean.pixel_size, t[S.DEFOCUS_U].to_numpy(), t[S.DEFOCUS_V].to_numpy(),
                         t[S.DEFOCUS_ANGLE].to_numpy(), 300.0, 2.7, 0.1)[0].numpy() ** 2
    spec = lambda x: (np.abs(P.fft2_center(torch.as_tensor(x, dtype=torch.float64)).numpy()) ** 2).mean(0).ravel()
    assert np.corrcoef(spec(both.images - clean.images), ctf2)[0, 1] > 0.5
    assert abs(np.corrcoef(spec(shot.images - clean.images), ctf2)[0, 1]) < 0.2


def test_classes_and_dropped_tilts():
    sim = simulate(n_particles=30, box=16, n_classes=3, snr=None, seed=1, drop_tilts=3, max_tilt=30)
    counts = sim.table.groupby("particle_index").size().to_numpy()
    assert (counts == 21 - 3).all() and len(counts) == 30 and sim.visible.sum() == len(sim.table)
    assert sim.visible[:, 0].all()  # the first (0 degree, least dosed) tilt is never dropped
    assert sim.volumes.shape == (3, 16, 16, 16) and set(sim.labels) == {0, 1, 2}
    assert min(m.sigmas.min() for m in sim.models) >= 1.0  # band-limited at box 16 too
    # classes differ by the presence of domains: each adds mass
    assert sim.volumes[0].sum() < sim.volumes[1].sum() < sim.volumes[2].sum()


def test_continuous_motion_moves_a_domain():
    sim = simulate(n_particles=10, box=16, n_classes=2, snr=None, seed=3, max_tilt=6, continuous=True)
    assert sim.continuous.min() >= 0 and sim.continuous.max() <= 1 and sim.continuous.std() > 0.1
    a, b = sim.volume_at(0, 0.0), sim.volume_at(0, 1.0)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] < 0.97
    assert np.allclose(sim.volume_at(1, 0.5), sim.volumes[1], atol=1e-5)
    # each particle's images show its class with the domain at its own t
    from tomodrgn_core.simulate._dataset import moving_domain
    rows = sim.table[S.PARTICLE_INDEX].to_numpy()
    own = [sim.models[sim.labels[i]] + moving_domain(sim.motion_domain, sim.continuous[i], 16) for i in rows]
    mid = [sim.models[sim.labels[i]] + moving_domain(sim.motion_domain, 0.5, 16) for i in rows]
    expect = expected_images(sim, own)
    assert np.allclose(sim.images, expect, atol=1e-4 * np.abs(expect).max())
    assert not np.allclose(sim.images, expected_images(sim, mid), atol=1e-2 * np.abs(expect).max())


@pytest.mark.parametrize("layout", ["warp", "relion5"])
def test_written_layouts_reread_exactly(tmp_path, layout):
    out = simulate_dataset(tmp_path, n_particles=12, box=16, n_classes=2, snr=None, seed=3, layout=layout,
                           drop_tilts=2, max_tilt=24, pixel_size=10.0, max_shift_px=1.5)
    sim = out["dataset"]
    ps = load_particles(out[layout])
    assert ps.source == layout and ps.n_particles == 12 and (ps.ntilts == 17 - 2).all()
    t, r = sim.table, ps.table
    for col in (S.DOSE, S.TILT_ANGLE, S.TILT_WEIGHT, S.DEFOCUS_U, S.DEFOCUS_V, S.DEFOCUS_ANGLE, S.SHIFT_X, S.SHIFT_Y):
        assert np.allclose(r[col], t[col], atol=1e-3), col
    pose = lambda d: P.euler_to_matrix(d[S.ROT].to_numpy(), d[S.TILT].to_numpy(), d[S.PSI].to_numpy())
    assert np.allclose(pose(r), pose(t), atol=1e-5)
    assert np.isclose(ps.pixel_size, 10.0) and ps.box == 16
    assert np.allclose(ps.images(np.arange(len(r))), sim.images, atol=1e-6)
    gt, apix = read_volume(out["volumes"][1])
    assert np.isclose(apix, 10.0) and np.allclose(gt, sim.volumes[1])
    assert np.array_equal(np.load(out["labels"]), sim.labels)


def test_cli_writes_both_layouts(tmp_path, capsys):
    rc = cli_main(["simulate", "-o", str(tmp_path), "-n", "6", "-D", "16", "--max-tilt", "6", "--layout", "both",
                   "--continuous", "--structural-snr", "2", "--snr", "0.5"])
    assert rc in (0, None)
    assert load_particles(tmp_path / "particles.star").n_particles == 6
    assert load_particles(tmp_path / "relion5" / "sim_optimisation_set.star").n_particles == 6
    assert (tmp_path / "ground_truth" / "class_00_t1.0.mrc").exists()
    assert "relion5 particles" in capsys.readouterr().out
