"""simulate_from_star: known maps at the poses, shifts, CTFs and exposures of a real STAR (the reference's
cryoSRPNT fixture), checked against that fixture's own images, which nobody here made."""
import numpy as np
import pytest

from tomodrgn_core.analysis.metrics import map_cc
from tomodrgn_core.errors import TomoDrgnInputError
from tomodrgn_core.io import load_particles, read_volume
from tomodrgn_core.io import _schema as S
from tomodrgn_core.simulate import remove_domain, simulate_from_star

from _data import CRYOSRPNT_CLEAN, CRYOSRPNT_MAP, CRYOSRPNT_NOISY


def _all_images(ps):
    return ps.images(np.arange(len(ps.table))).astype(np.float64)


def test_projections_reproduce_the_fixtures_clean_images(tmp_path):
    # the fixture's clean stack is the reference's own projection of its map at its poses and shifts: ours at the
    # same rows must match it image by image (a wrong rotation, transpose or shift sign gives CC ~0.1-0.8)
    gt = read_volume(CRYOSRPNT_MAP)[0]
    out = simulate_from_star(CRYOSRPNT_CLEAN, [gt], np.zeros(72, int), tmp_path / "clean.star", snr=None)
    ours, theirs = _all_images(load_particles(out)), _all_images(load_particles(CRYOSRPNT_CLEAN))
    cc = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(ours, theirs)]
    assert min(cc) > 0.98, min(cc)


def test_noisy_set_has_the_fixtures_acquisition_and_snr(tmp_path):
    gt = read_volume(CRYOSRPNT_MAP)[0]
    labels = np.r_[np.zeros(72, int), np.ones(72, int)]
    out = simulate_from_star(CRYOSRPNT_NOISY, [gt, remove_domain(gt)], labels, tmp_path / "two.star", snr=0.1, seed=1)
    src, ps = load_particles(CRYOSRPNT_NOISY), load_particles(out)
    assert ps.n_particles == 144 and len(ps.table) == 2 * len(src.table)
    assert ps.table[S.PARTICLE_ID].nunique() == 144
    # every acquisition column comes from the source STAR, twice over (copy k reuses particles 0..71)
    cols = [S.ROT, S.TILT, S.PSI, S.SHIFT_X, S.SHIFT_Y, S.DEFOCUS_U, S.DEFOCUS_V, S.PHASE_SHIFT, S.DOSE,
            S.TILT_WEIGHT]
    for half in (ps.table.iloc[:len(src.table)], ps.table.iloc[len(src.table):]):
        assert np.allclose(half[cols].to_numpy(float), src.table[cols].to_numpy(float), atol=1e-3)
    # the noise: signal variance / noise variance = 0.1 as asked, measured against the noise-free images
    clean = simulate_from_star(CRYOSRPNT_NOISY, [gt, remove_domain(gt)], labels, tmp_path / "c.star", snr=None)
    signal, noisy = _all_images(load_particles(clean)), _all_images(ps)
    assert 0.08 < signal.var() / (noisy - signal).var() < 0.12
    # the class D copy correlates with the fixture's noisy images as the fixture's own signal does (CC ~0.29 per
    # image at SNR 0.1; the other class, projected from a different map, less)
    cc = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(signal[:len(src.table)], _all_images(src))]
    assert np.mean(cc) > 0.25, np.mean(cc)


def test_remove_domain_makes_a_clearly_different_class():
    gt = read_volume(CRYOSRPNT_MAP)[0]
    cut = remove_domain(gt, fraction=0.3)
    mass = np.clip(gt, 0, None).sum(), np.clip(cut, 0, None).sum()
    assert 0.6 < mass[1] / mass[0] < 0.8
    assert 0.7 < map_cc(gt, cut) < 0.9
    assert np.all(np.abs(cut) <= np.abs(gt) + 1e-6)  # only removes density


def test_bad_labels_and_maps_give_one_line_errors(tmp_path):
    gt = read_volume(CRYOSRPNT_MAP)[0]
    with pytest.raises(TomoDrgnInputError, match="100 labels for a STAR of 72 particles"):
        simulate_from_star(CRYOSRPNT_CLEAN, [gt], np.zeros(100, int), tmp_path / "a.star", snr=None)
    with pytest.raises(TomoDrgnInputError, match="labels must lie in 0..0"):
        simulate_from_star(CRYOSRPNT_CLEAN, [gt], np.ones(72, int), tmp_path / "b.star", snr=None)
    with pytest.raises(TomoDrgnInputError, match="box 32"):
        simulate_from_star(CRYOSRPNT_CLEAN, [gt[:16, :16, :16]], np.zeros(72, int), tmp_path / "c.star", snr=None)
