"""The simulator and the back-projection share one physics convention: prove it end to end."""
from pathlib import Path

import numpy as np
import pytest

from tomodrgn_core.io import load_particles, read_volume
from tomodrgn_core.reconstruct import backproject
from tomodrgn_core.simulate import dose_symmetric_scheme, simulate, simulate_dataset

FIXTURE = Path(__file__).resolve().parents[2] / "../shared/fixtures/relion5_warptools_small"


def cc(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def test_dose_symmetric_scheme():
    angles, dose = dose_symmetric_scheme(60, 3, 3.0)
    assert list(angles[:7]) == [0, 3, -3, -6, 6, 9, -9]
    assert len(angles) == 41 and sorted(angles) == list(np.arange(-60, 61, 3))
    assert dose[0] == 0 and dose[-1] == 120


def test_noiseless_backprojection_matches_ground_truth_with_ctf_dose_and_shifts():
    sim = simulate(n_particles=40, box=32, n_classes=1, snr=None, seed=0, max_shift_px=2.0)
    vol = backproject(sim.images, sim.table)
    assert cc(vol, sim.volumes[0]) > 0.95
    assert cc(vol[::-1], sim.volumes[0]) < 0.9  # the hand is right, not just the shape


def test_classes_differ_and_dropped_tilts_vary_counts():
    sim = simulate(n_particles=60, box=24, n_classes=2, snr=None, seed=1, drop_tilts=3, max_tilt=30)
    counts = sim.table.groupby("particle_index").size().to_numpy()
    assert (counts == 21 - 3).all() and len(counts) == 60
    vols = [backproject(sim.images[sim.table.particle_index.isin(np.flatnonzero(sim.labels == k))],
                        sim.table[sim.table.particle_index.isin(np.flatnonzero(sim.labels == k))]) for k in (0, 1)]
    assert cc(vols[0], sim.volumes[0]) > cc(vols[0], sim.volumes[1])
    assert cc(vols[1], sim.volumes[1]) > cc(vols[1], sim.volumes[0])


def test_noise_reaches_requested_snr():
    clean = simulate(n_particles=20, box=24, snr=None, seed=2, max_tilt=9)
    noisy = simulate(n_particles=20, box=24, snr=0.5, seed=2, max_tilt=9)
    signal = clean.images[clean.table.tilt_angle == 0].var()
    noise = (noisy.images - clean.images)[clean.table.tilt_angle == 0].var()
    assert 0.4 < signal / noise < 0.6


@pytest.mark.parametrize("layout", ["warp", "relion5"])
def test_written_layouts_reread_and_reconstruct(tmp_path, layout):
    out = simulate_dataset(tmp_path, n_particles=30, box=24, n_classes=1, snr=None, seed=3, layout=layout,
                           drop_tilts=2, max_tilt=45, pixel_size=10.0)
    sim = out["dataset"]
    ps = load_particles(out[layout])
    assert ps.source == layout and ps.n_particles == 30 and (ps.ntilts == 31 - 2).all()
    assert np.allclose(ps.table["dose"], sim.table["dose"]) and np.isclose(ps.pixel_size, 10.0)
    vol = backproject(ps.images(np.arange(len(ps.table))), ps.table)
    assert cc(vol, sim.volumes[0]) > 0.95
    gt, apix = read_volume(out["volumes"][0])
    assert np.isclose(apix, 10.0) and np.allclose(gt, sim.volumes[0])
    assert np.array_equal(np.load(out["labels"]), sim.labels)


def test_fixture_backprojection_correlates_with_exporters_map():
    ps = load_particles(FIXTURE / "warptools_test_4-tomos_10-ptcls_box-32_angpix-12_optimisation_set.star")
    vol = backproject(ps.images(np.arange(len(ps.table))), ps.table)
    ref, _ = read_volume(FIXTURE / "warptools_test_box-32_angpix-12_reconstruct.mrc")
    # 40 noisy particles: a low-pass comparison is the honest one
    from tomodrgn_core.physics.resample import fourier_crop_3d
    a, b = fourier_crop_3d(vol, 12), fourier_crop_3d(ref, 12)
    assert cc(a, b) > 0.5
    assert cc(a, b) > cc(a[::-1], b) + 0.2
