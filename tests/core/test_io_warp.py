"""Warp/M image-series STAR: write_image_series round trip, detection, subsets, lazy reads, volumes."""
import tracemalloc

import mrcfile
import numpy as np
import pandas as pd
import pytest

from tomodrgn_core.io import (load_particles, read_star, read_volume, write_image_series, write_star,
                              write_volume)
from tomodrgn_core.io import schema as S
from tomodrgn_core.errors import TomoDrgnInputError


def make_table(n_particles=4, ntilts=(5, 3, 4, 5), box=16, px=4.25, seed=0, coords=True) -> pd.DataFrame:
    """A small canonical table (signed tilts, doses, CTF) with ragged tilt counts."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_particles):
        k = ntilts[p % len(ntilts)]
        tilts = np.array([0, 3, -3, -6, 6, 9, -9][:k], float)
        for j, t in enumerate(tilts):
            rows.append({
                S.PARTICLE_INDEX: p, S.PARTICLE_ID: f"TS_{p % 2}_{p:03d}", S.TOMO_ID: f"TS_{p % 2}",
                S.IMAGE_PATH: "", S.IMAGE_INDEX: 0, S.PIXEL_SIZE: px, S.BOX: box,
                S.ROT: rng.uniform(-180, 180), S.TILT: rng.uniform(0, 180), S.PSI: rng.uniform(-180, 180),
                S.SHIFT_X: rng.normal() * px, S.SHIFT_Y: rng.normal() * px,
                S.DEFOCUS_U: 20000 + 1000 * rng.random(), S.DEFOCUS_V: 19000 + 1000 * rng.random(),
                S.DEFOCUS_ANGLE: rng.uniform(0, 180), S.VOLTAGE: 300.0, S.CS: 2.7, S.AMP_CONTRAST: 0.07,
                S.PHASE_SHIFT: 0.0, S.DOSE: 3.0 * j, S.TILT_ANGLE: t, S.TILT_WEIGHT: np.cos(np.radians(t)),
                S.VISIBLE: True,
                S.COORD_X: 100.0 * p if coords else np.nan, S.COORD_Y: 50.0 + p if coords else np.nan,
                S.COORD_Z: -20.5 if coords else np.nan,
            })
    return pd.DataFrame(rows)


def make_set(tmp_path, name="parts.star", **kw):
    table = make_table(**kw)
    box = int(table[S.BOX].iloc[0])
    images = np.random.default_rng(1).normal(size=(len(table), box, box)).astype(np.float32)
    star = write_image_series(table, images, tmp_path / name)
    return table, images, star


COMPARE = [c for c in S.REQUIRED if c not in (S.IMAGE_PATH, S.IMAGE_INDEX)] + [S.COORD_X, S.COORD_Y, S.COORD_Z]


def test_round_trip_write_image_series(tmp_path):
    table, images, star = make_set(tmp_path)
    ps = load_particles(star)
    assert ps.source == "warp" and ps.n_particles == 4 and ps.box == 16 and ps.pixel_size == 4.25
    assert list(ps.ntilts) == [5, 3, 4, 5] and list(ps.row_offsets) == [0, 5, 8, 12, 17]
    got = ps.table
    for c in COMPARE:
        if got[c].dtype.kind in "fi":
            np.testing.assert_allclose(got[c].to_numpy(float), table[c].to_numpy(float), rtol=1e-6, atol=1e-9,
                                       err_msg=c)
        else:
            assert list(got[c].astype(str)) == list(table[c].astype(str)), c
    np.testing.assert_array_equal(ps.images(np.arange(len(got))), images)
    with mrcfile.open(star.with_suffix(".mrcs"), header_only=True) as m:
        assert float(m.voxel_size.x) == pytest.approx(4.25)


def test_signed_tilt_kept_and_arccos_fallback(tmp_path):
    table, _, star = make_set(tmp_path)
    assert (load_particles(star).table[S.TILT_ANGLE] < 0).any()  # signed column written and read
    blocks = read_star(star)
    df = blocks["particles"].drop(columns=["rlnTomoNominalStageTiltAngle", "rlnImagePixelSize"])
    write_star(tmp_path / "plain.star", {"particles": df})
    ps = load_particles(tmp_path / "plain.star")
    np.testing.assert_allclose(ps.table[S.TILT_ANGLE], np.abs(table[S.TILT_ANGLE]), atol=1e-4)
    assert ps.pixel_size == pytest.approx(4.25)  # from rlnDetectorPixelSize * 1e4 / rlnMagnification


def test_optics_block_and_origin_in_pixels(tmp_path):
    """(cryoSRPNT detection itself is checked on the reference's own file: test_fixture_conventions.py)"""
    table, _, star = make_set(tmp_path)
    df = read_star(star)["particles"]
    px = 4.25
    df["rlnOriginX"], df["rlnOriginY"] = df["rlnOriginXAngst"] / px, df["rlnOriginYAngst"] / px
    df["rlnOpticsGroup"] = 1
    keep = [c for c in df.columns if c not in ("rlnOriginXAngst", "rlnOriginYAngst", "rlnVoltage",
                                                "rlnSphericalAberration", "rlnAmplitudeContrast", "rlnImagePixelSize",
                                                "rlnDetectorPixelSize", "rlnMagnification", "rlnMicrographName")]
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7],
                           "rlnAmplitudeContrast": [0.07], "rlnImagePixelSize": [px]})
    write_star(tmp_path / "optics.star", {"optics": optics, "particles": df[keep]})
    ps = load_particles(tmp_path / "optics.star")
    assert ps.source == "cryosrpnt"  # no Warp-only columns left
    np.testing.assert_allclose(ps.table[S.SHIFT_X], table[S.SHIFT_X], rtol=1e-6)
    np.testing.assert_allclose(ps.table[S.VOLTAGE], 300.0)
    assert load_particles(tmp_path / "optics.star", source_software="warp").source == "warp"  # override


def test_non_contiguous_groups_become_contiguous_particles(tmp_path):
    _, images, star = make_set(tmp_path)
    df = read_star(star)["particles"]
    shuffled = df.iloc[np.r_[0:2, 5:8, 2:5, 8:len(df)]].reset_index(drop=True)  # particle 0 split in two runs
    write_star(tmp_path / "shuf.star", {"particles": shuffled})
    ps = load_particles(tmp_path / "shuf.star")
    assert list(ps.ntilts) == [5, 3, 4, 5]
    assert list(ps.table[S.PARTICLE_ID].iloc[:5]) == ["TS_0_000"] * 5
    np.testing.assert_array_equal(ps.images(ps.particle_rows(0)), images[:5])


def test_subset_write_and_reread_warp(tmp_path):
    table, images, star = make_set(tmp_path)
    ps = load_particles(star)
    sub = ps.subset(np.array([3, 1]))
    assert sub.n_particles == 2 and list(sub.ntilts) == [3, 5]
    assert list(sub.table[S.PARTICLE_INDEX].unique()) == [0, 1] and list(sub.table[S.SOURCE_ROW].unique()) == [1, 3]
    out = tmp_path / "sub" / "subset.star"
    assert sub.write(out) == [out]
    again = load_particles(out)
    assert again.source == "warp" and list(again.table[S.PARTICLE_ID].unique()) == ["TS_1_001", "TS_1_003"]
    np.testing.assert_array_equal(again.images(np.arange(8)), sub.images(np.arange(8)))
    mask = np.zeros(4, bool)
    mask[2] = True
    assert ps.subset(mask).table[S.PARTICLE_ID].iloc[0] == "TS_0_002"
    with pytest.raises(TomoDrgnInputError, match="already exists"):
        sub.write(out)
    sub.write(out, overwrite=True, relative_paths=True)
    assert "@../parts.mrcs" in out.read_text()
    assert load_particles(out).n_particles == 2
    with pytest.raises(TomoDrgnInputError, match="out of range"):
        ps.subset([7])


def test_images_are_read_lazily(tmp_path):
    table = make_table(n_particles=40, ntilts=(7,), box=32)
    images = np.random.default_rng(0).normal(size=(len(table), 32, 32)).astype(np.float32)
    star = write_image_series(table, images, tmp_path / "big.star")
    ps = load_particles(star)
    assert not ps._reader._handles  # nothing opened by loading
    tracemalloc.start()
    got = ps.images(np.array([279, 3, 17]))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(got, images[[279, 3, 17]])
    assert peak < 0.1 * images.nbytes  # only the requested slices were copied
    assert len(ps._reader._handles) == 1  # one stack, opened once and cached
    ps.images(np.arange(5))
    assert len(ps._reader._handles) == 1


def test_write_image_series_refuses_overwrite_and_drops_hidden(tmp_path):
    table, images, star = make_set(tmp_path)
    with pytest.raises(TomoDrgnInputError, match="already exists"):
        write_image_series(table, images, star)
    t2 = table.copy()
    t2.loc[[0, 1], S.VISIBLE] = False
    out = write_image_series(t2, images, tmp_path / "vis.star")
    ps = load_particles(out)
    assert list(ps.ntilts) == [3, 3, 4, 5]
    np.testing.assert_array_equal(ps.images(np.arange(3)), images[2:5])


def test_volume_write_read(tmp_path):
    vol = np.random.default_rng(0).normal(size=(8, 8, 8)).astype(np.float32)
    path = write_volume(tmp_path / "v.mrc", vol, 3.5)
    got, px = read_volume(path)
    np.testing.assert_array_equal(got, vol)
    assert px == pytest.approx(3.5)
    with mrcfile.open(path, header_only=True) as m:
        assert m.header.mode == 2 and tuple(m.header.origin.item()) == (0.0, 0.0, 0.0)
    with pytest.raises(TomoDrgnInputError, match="already exists"):
        write_volume(path, vol, 3.5, overwrite=False)
