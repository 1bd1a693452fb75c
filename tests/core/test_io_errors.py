"""Every bad input ends in one TomoDrgnInputError line naming the file, the row and the fix."""
import shutil
from pathlib import Path

import numpy as np
import pytest

from tomodrgn_core.errors import TomoDrgnInputError
from tomodrgn_core.io import load_particles, read_star, write_image_series, write_star
from tomodrgn_core.io import schema as S
from test_io_warp import make_set, make_table
from test_io_relion5 import FIX, PARTICLES, TOMOS


def _err(star, **kw) -> str:
    with pytest.raises(TomoDrgnInputError) as info:
        load_particles(star, **kw)
    msg = str(info.value)
    assert "\n" not in msg and "fix:" in msg
    return msg


def _rewrite(star, out, edit):
    blocks = read_star(star)
    blocks["particles"] = edit(blocks["particles"].copy())
    write_star(out, blocks)
    return out


def test_missing_columns(tmp_path):
    _, _, star = make_set(tmp_path)
    bad = _rewrite(star, tmp_path / "bad.star", lambda d: d.drop(columns=["rlnCtfBfactor", "rlnVoltage"]))
    msg = _err(bad)
    assert msg.startswith(f"{bad}: data_") and "_rlnCtfBfactor" in msg and "_rlnVoltage" in msg
    assert "row header" not in msg  # Python-API wording, meaningless to a command-line user


def test_missing_stack_lists_every_place_looked(tmp_path):
    _, _, star = make_set(tmp_path)
    star.with_suffix(".mrcs").unlink()
    (tmp_path / "elsewhere").mkdir()
    msg = _err(star, datadir=tmp_path / "elsewhere")
    assert str(star) in msg and "row 1" in msg and "looked in" in msg
    for place in (tmp_path / "elsewhere", tmp_path, tmp_path.parent, tmp_path.parent.parent, Path.cwd()):
        assert str(place / "parts.mrcs") in msg


def test_datadir_that_is_not_a_folder(tmp_path):
    _, _, star = make_set(tmp_path)  # the stacks are beside the STAR: a wrong datadir used to pass unnoticed
    msg = _err(star, datadir=tmp_path / "typo")
    assert msg.startswith(f"{tmp_path / 'typo'}: datadir is not an existing folder")
    assert "fix: pass the folder that holds the image stacks" in msg


def test_unreadable_stack(tmp_path):
    _, _, star = make_set(tmp_path)
    star.with_suffix(".mrcs").write_bytes(b"not an mrc file at all")
    msg = _err(star)
    assert str(star) in msg and "row 1" in msg and "parts.mrcs" in msg


def test_truncated_stack(tmp_path):
    _, _, star = make_set(tmp_path)
    stack = star.with_suffix(".mrcs")
    stack.write_bytes(stack.read_bytes()[:-100])
    msg = _err(star)
    assert str(star) in msg and "row 1" in msg and "parts.mrcs is truncated" in msg


def test_index_past_end_of_stack(tmp_path):
    _, _, star = make_set(tmp_path)
    bad = _rewrite(star, tmp_path / "bad.star",
                   lambda d: d.assign(rlnImageName=d["rlnImageName"].where(d.index != 6, "000999@parts.mrcs")))
    msg = _err(bad)
    assert "row 7" in msg and "999" in msg and "past the end" in msg


@pytest.mark.parametrize("index", ["000000", "-3"])
def test_image_index_below_one_is_not_past_the_end(tmp_path, index):
    _, _, star = make_set(tmp_path)
    bad = _rewrite(star, tmp_path / "bad.star",
                   lambda d: d.assign(rlnImageName=d["rlnImageName"].where(d.index != 4, f"{index}@parts.mrcs")))
    msg = _err(bad)
    assert msg.startswith(f"{bad}, row 5: rlnImageName '{index}@parts.mrcs' has image index {int(index)}")
    assert "1-based" in msg and "past the end" not in msg


def test_mixed_box_sizes(tmp_path):
    make_set(tmp_path, name="a.star")
    make_set(tmp_path, name="b.star", box=20)
    a, b = read_star(tmp_path / "a.star")["particles"], read_star(tmp_path / "b.star")["particles"]
    b["rlnGroupName"] = b["rlnGroupName"] + "_b"
    import pandas as pd
    write_star(tmp_path / "mixed.star", {"particles": pd.concat([a, b], ignore_index=True)})
    msg = _err(tmp_path / "mixed.star")
    assert "mixed box sizes" in msg and f"row {len(a) + 1}" in msg


def test_mixed_pixel_sizes(tmp_path):
    _, _, star = make_set(tmp_path)
    bad = _rewrite(star, tmp_path / "bad.star",
                   lambda d: d.assign(rlnImagePixelSize=np.where(d.index == 9, 5.0, d["rlnImagePixelSize"])))
    msg = _err(bad)
    assert "mixed pixel sizes" in msg and "row 10" in msg


def test_zero_visible_tilts(tmp_path):
    blocks = read_star(PARTICLES)
    vis = blocks["particles"]["rlnTomoVisibleFrames"].copy()
    vis.iloc[3] = "[" + ",".join(["0"] * 37) + "]"
    blocks["particles"]["rlnTomoVisibleFrames"] = vis
    write_star(tmp_path / "p.star", blocks)
    msg = _err(tmp_path / "p.star", tomograms_star=TOMOS, datadir=FIX)
    assert str(tmp_path / "p.star") in msg and "row 4" in msg and "zero visible tilts" in msg


@pytest.mark.filterwarnings("ignore:Data array contains NaN")
def test_nan_pixels_found_lazily_naming_stack_and_slice(tmp_path):
    table = make_table()
    images = np.zeros((len(table), 16, 16), np.float32)
    images[4, 2, 3] = np.nan
    star = write_image_series(table, images, tmp_path / "nan.star")
    ps = load_particles(star)  # loading does not read pixels
    assert ps.images(np.arange(4)).shape == (4, 16, 16)
    with pytest.raises(TomoDrgnInputError) as info:
        ps.images(np.arange(8))
    msg = str(info.value)
    # the STAR row that points at the bad image (image 5 is data row 5 of nan.star), and the STAR file itself
    assert "nan.mrcs" in msg and "slice 5" in msg and "row 5" in msg and "NaN" in msg and "fix:" in msg
    assert msg.startswith(str(star))


def test_empty_files(tmp_path):
    (tmp_path / "empty.star").write_text("")
    assert "empty" in _err(tmp_path / "empty.star")
    _, _, star = make_set(tmp_path)
    norows = _rewrite(star, tmp_path / "norows.star", lambda d: d.iloc[:0])
    assert "no rows" in _err(norows)


def test_unparseable_and_unknown_star(tmp_path):
    (tmp_path / "junk.star").write_bytes(b"\x00\x01 garbage \xff\n data_x \n loop_ _a \n 1 2 3 \n")
    msg = _err(tmp_path / "junk.star")
    assert str(tmp_path / "junk.star") in msg
    write_star(tmp_path / "other.star", {"x": {"rlnFoo": 1}})
    msg = _err(tmp_path / "other.star")
    assert "cannot tell the particle format" in msg and "row header" not in msg
    assert "--source-software warp, cryosrpnt or relion5" in msg and "source_software" not in msg
    assert "unknown source software" in _err(tmp_path / "other.star", source_software="dynamo")
    assert "not found" in _err(tmp_path / "missing.star")


def test_mrc_stack_given_as_the_star_file(tmp_path):
    _, _, star = make_set(tmp_path)
    stack = star.with_suffix(".mrcs")
    fix = "fix: give the particles .star (or the *_optimisation_set.star)"
    assert _err(stack) == f"{stack}: this is an MRC image stack, not a STAR file -> {fix}"
    # recognised by its header too ('MAP ' at byte 208), whatever the name
    shutil.copy(stack, tmp_path / "renamed.star")
    msg = _err(tmp_path / "renamed.star")
    assert "this is an MRC file (image stack or volume), not a STAR file" in msg and fix in msg


def test_text_in_a_number_column_names_row_and_value(tmp_path):
    _, _, star = make_set(tmp_path)
    bad = _rewrite(star, tmp_path / "bad.star",
                   lambda d: d.astype({"rlnDefocusU": object}).assign(
                       rlnDefocusU=d["rlnDefocusU"].astype(object).where(d.index != 4, "abc")))
    msg = _err(bad)
    assert str(bad) in msg and "row 5" in msg and "_rlnDefocusU is 'abc'" in msg


def test_non_finite_values_name_their_row(tmp_path):
    _, _, star = make_set(tmp_path)
    bad = _rewrite(star, tmp_path / "bad.star", lambda d: d.assign(rlnAngleTilt=d["rlnAngleTilt"].where(d.index != 8, np.nan)))
    msg = _err(bad)
    assert str(bad) in msg and "row 9" in msg and "rlnAngleTilt is nan" in msg
    # RELION 5: a per-tilt value in the tomograms STAR, reported at the first particle that uses it
    for name in (PARTICLES.name, f"{PARTICLES.stem.replace('.star', '')}_optimisation_set.star"):
        shutil.copy(FIX / name, tmp_path / name)
    blocks = read_star(TOMOS)
    tomo = next(k for k in blocks if k != "global")
    blocks[tomo] = blocks[tomo].assign(rlnDefocusU=blocks[tomo]["rlnDefocusU"].astype(object).where(
        blocks[tomo].index != 2, "n/a"))
    write_star(tmp_path / TOMOS.name, blocks)
    msg = _err(tmp_path / PARTICLES.name, datadir=FIX)
    assert TOMOS.name in msg and "row 3" in msg and "'n/a'" in msg and f"data_{tomo}" in msg


def test_relion5_without_tomograms_star(tmp_path):
    shutil.copy(PARTICLES, tmp_path / "p.star")
    assert "tomograms STAR" in _err(tmp_path / "p.star", datadir=FIX)


def test_commands_never_overwrite_their_own_inputs_even_with_force(tmp_path, capsys):
    from tomodrgn_core.cli import main as cli
    from tomodrgn_core.simulate import simulate_dataset
    sim = simulate_dataset(tmp_path / "sim", n_particles=4, box=16, n_classes=1, snr=0.5, seed=0, max_tilt=9)
    star = Path(sim["warp"])
    stack = next(star.parent.glob("*.mrcs"))
    before = star.read_bytes(), stack.read_bytes()
    cases = [["downsample", str(star), "-D", "8", "-o", str(star), "--force"],            # the STAR and its .mrcs
             ["backproject_voxel", str(star), "-o", str(star), "--force"],                # a volume over the STAR
             ["downsample", str(star), "-D", "8", "-o", str(stack.with_suffix(".star")), "--force"]]  # .mrcs sibling
    for argv in cases:
        assert cli(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert "output would replace an input of this command" in err and "\n" not in err, err
    assert (star.read_bytes(), stack.read_bytes()) == before
    # an ordinary --force over an earlier output still works
    out = tmp_path / "bp.mrc"
    assert cli(["backproject_voxel", str(star), "-o", str(out)]) == 0
    assert cli(["backproject_voxel", str(star), "-o", str(out), "--force"]) == 0
