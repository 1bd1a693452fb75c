import numpy as np
import pytest

from tomodrgn_core.cli import main as cli
from tomodrgn_core.io import load_particles
from tomodrgn_core.physics.resample import fourier_crop_2d, fourier_crop_3d

FIXTURE = "../shared/fixtures/relion5_warptools_small/warptools_test_4-tomos_10-ptcls_box-32_angpix-12_optimisation_set.star"


def test_fourier_crop_keeps_low_frequencies_and_mean():
    D, d = 32, 16
    y, x = np.mgrid[:D, :D] - D // 2
    img = np.exp(-(x ** 2 + y ** 2) / (2 * 4.0 ** 2)).astype(np.float32)  # band-limited blob
    small = fourier_crop_2d(img[None], d)[0]
    assert small.shape == (d, d)
    assert np.isclose(small.mean(), img.mean(), rtol=1e-4)
    ys, xs = np.mgrid[:d, :d] - d // 2
    expected = np.exp(-((2 * xs) ** 2 + (2 * ys) ** 2) / (2 * 4.0 ** 2))
    assert np.corrcoef(small.ravel(), expected.ravel())[0, 1] > 0.999
    vol = np.random.default_rng(0).normal(size=(8, 8, 8)).astype(np.float32)
    assert np.isclose(fourier_crop_3d(vol, 4).mean(), vol.mean(), atol=1e-5)


def test_downsample_command_on_fixture(tmp_path):
    import pathlib
    fixture = pathlib.Path(__file__).resolve().parents[2] / FIXTURE
    out = tmp_path / "ds.star"
    assert cli(["downsample", str(fixture), "-D", "16", "-o", str(out)]) == 0
    src, ds = load_particles(fixture), load_particles(out)
    assert ds.n_particles == src.n_particles == 40
    assert ds.box == 16 and np.isclose(ds.pixel_size, 24.0)
    assert np.array_equal(ds.ntilts, src.ntilts)
    assert np.allclose(ds.table["dose"], src.table["dose"])
    # refuses to overwrite, and rejects an odd size with one line
    assert cli(["downsample", str(fixture), "-D", "16", "-o", str(out)]) == 2
    assert cli(["downsample", str(fixture), "-D", "15", "-o", str(tmp_path / "x.star")]) == 2
