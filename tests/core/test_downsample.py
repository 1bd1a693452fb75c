import numpy as np
import pytest

from tomodrgn_core.cli import main as cli
from tomodrgn_core.io import load_particles
from tomodrgn_core.physics.resample import fourier_crop_2d, fourier_crop_3d
from _data import RELION5, RELION5_OPT  # noqa: F401  (tests/data)

FIXTURE = str(RELION5_OPT)


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


def test_downsample_keeps_ctf_premultiplied_flag_and_map(tmp_path):
    """WarpTools 2D stacks are CTF-premultiplied: the downsampled STAR must say so, or the CTF is applied twice
    (measured: box-16 map vs reference cropped to 16, CC 0.48 without the flag, 0.87 with; box 32 cropped: 0.90)."""
    import pathlib
    from tomodrgn_core.io import read_volume
    from tomodrgn_core.io import schema as S
    from tomodrgn_core.reconstruct import backproject

    fixture = pathlib.Path(__file__).resolve().parents[2] / FIXTURE
    out = tmp_path / "particles.star"
    assert cli(["downsample", str(fixture), "-D", "16", "-o", str(out)]) == 0
    assert "rlnCtfDataAreCtfPremultiplied" in out.read_text()
    src, ds = load_particles(fixture), load_particles(out)
    assert src.table[S.CTF_PREMULTIPLIED].all() and ds.table[S.CTF_PREMULTIPLIED].all()

    cc = lambda a, b: float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])  # noqa: E731
    ref, _ = read_volume(fixture.parent / "warptools_test_box-32_angpix-12_reconstruct.mrc")
    ref16 = fourier_crop_3d(ref, 16)
    full = backproject(src.images(np.arange(len(src.table))), src.table)
    small = backproject(ds.images(np.arange(len(ds.table))), ds.table)
    cc_full, cc_ds = cc(fourier_crop_3d(full, 16), ref16), cc(small, ref16)
    print(f"CC with the reference cropped to 16: box-32 map cropped {cc_full:.3f}, downsampled set {cc_ds:.3f}")
    assert cc_full > 0.85
    assert cc_ds > 0.8 and cc_ds > cc_full - 0.06


def test_write_image_series_round_trips_premultiplied_per_row(tmp_path):
    from tomodrgn_core.io import write_image_series
    from tomodrgn_core.io import schema as S
    from tomodrgn_core.simulate import simulate

    sim = simulate(n_particles=3, box=8, n_classes=1, snr=None, seed=0, max_tilt=30)
    table = sim.table.copy()
    assert table[S.VISIBLE].all()  # every row written, in table order
    flags = np.arange(len(table)) % 3 == 0  # mixed on purpose: the flag is per row, not per file
    table[S.CTF_PREMULTIPLIED] = flags
    star = write_image_series(table, sim.images, tmp_path / "mixed.star")
    got = load_particles(star).table
    assert np.array_equal(got[S.CTF_PREMULTIPLIED].to_numpy(bool), flags[got[S.SOURCE_IMAGE_ROW].to_numpy()])
