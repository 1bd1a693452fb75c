"""tomodrgn extract_particles on plain files written from a simulated tomogram tilt series."""
import argparse

import mrcfile
import numpy as np
import pytest

from tomodrgn_core.commands import extract_particles as cmd
from tomodrgn_core.errors import TomoDrgnInputError
from tomodrgn_core.io import load_particles
from tomodrgn_core.io import _schema as S
from tomodrgn_core.physics import matrix_to_euler
from tomodrgn_core.tiltseries import simulate_tomogram_tilt_series

BOX = 24

from test_tiltseries import ccs, unshift  # noqa: E402  (shared test helpers)


def write_inputs(sim, d):
    g = sim.geometry
    with mrcfile.new(d / "TS_01.mrc") as m:
        m.set_data(sim.stack)
        m.voxel_size = g.pixel_size
    np.savetxt(d / "TS_01.tlt", g.tilt_angles)
    np.savetxt(d / "TS_01.xf", np.c_[g.transforms[:, 0, :2], g.transforms[:, 1, :2], g.transforms[:, :2, 2]])
    np.savetxt(d / "dose.txt", g.dose)
    size = np.array(sim.tomo_shape, float)
    np.savetxt(d / "coords.txt", np.c_[sim.coords + size / 2, matrix_to_euler(sim.poses)])
    return ["--tlt", str(d / "TS_01.tlt"), "--xf", str(d / "TS_01.xf"), "--dose", str(d / "dose.txt"),
            "--coords", str(d / "coords.txt"), "--tomo-size", *map(str, sim.tomo_shape), "-D", str(BOX)]


def run(argv):
    p = argparse.ArgumentParser()
    cmd.add_args(p)
    cmd.main(p.parse_args(argv))


def test_extract_particles_command_matches_direct_projections(tmp_path):
    sim = simulate_tomogram_tilt_series(n_particles=4, tomo_shape=(192, 192, 40), box=BOX, seed=5, tilt_step=10)
    argv = write_inputs(sim, tmp_path)
    out = tmp_path / "particles.star"
    run([str(tmp_path / "TS_01.mrc"), *argv, "--no-normalise", "-o", str(out)])
    ps = load_particles(out)
    nt = len(sim.geometry.tilt_angles)
    assert ps.n_particles == 4 and list(ps.ntilts) == [nt] * 4
    t = ps.table
    assert np.allclose(t[S.DOSE].to_numpy(), np.tile(sim.geometry.dose, 4))
    assert (t[S.TOMO_ID] == "TS_01").all()
    imgs = ps.images(np.arange(len(t))).astype(np.float64)
    # the stored image, with the particle moved to the centre by its origin, is the direct projection
    centred = unshift(imgs, t[[S.SHIFT_X, S.SHIFT_Y]].to_numpy() / sim.geometry.pixel_size)
    assert ccs(centred, sim.direct.reshape(-1, BOX, BOX)).min() > 0.95


def test_extract_particles_rejects_a_short_transform_file(tmp_path):
    sim = simulate_tomogram_tilt_series(n_particles=1, tomo_shape=(128, 128, 32), box=BOX, seed=6, tilt_step=20)
    argv = write_inputs(sim, tmp_path)
    lines = (tmp_path / "TS_01.xf").read_text().splitlines()
    (tmp_path / "TS_01.xf").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(TomoDrgnInputError, match="TS_01.xf"):
        run([str(tmp_path / "TS_01.mrc"), *argv, "-o", str(tmp_path / "p.star")])


def test_extract_particles_guards_the_raw_tilt_series_and_its_arguments(tmp_path):
    from tomodrgn_core.cli import main as cli
    sim = simulate_tomogram_tilt_series(n_particles=1, tomo_shape=(128, 128, 32), box=BOX, seed=6, tilt_step=20)
    argv = write_inputs(sim, tmp_path)
    raw = tmp_path / "TS_01.mrc"
    raw.rename(tmp_path / "TS_01.mrcs")  # a raw stack named like the output's implicit image stack
    raw = tmp_path / "TS_01.mrcs"
    before = raw.read_bytes()
    # -o TS_01.star writes its images to TS_01.mrcs: the user's tilt series, even with --force
    assert cli(["extract_particles", str(raw), *argv, "-o", str(tmp_path / "TS_01.star"), "--force"]) == 2
    assert raw.read_bytes() == before
    with pytest.raises(TomoDrgnInputError, match="binning 5"):
        run([str(raw), *argv, "--bin", "5", "-o", str(tmp_path / "b.star")])
    (tmp_path / "text.mrc").write_text("not a stack")
    with pytest.raises(TomoDrgnInputError, match="text.mrc"):
        run([str(tmp_path / "text.mrc"), *argv, "-o", str(tmp_path / "c.star")])
