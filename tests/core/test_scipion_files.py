"""The plain files through which the Scipion plugin uses the core (it runs in another Python): Scipion matrices
(physics/_geometry.py), particle tables, the prepare spec, and the tilt-series files of simulate_tilt_series."""
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tomodrgn_core.cli import main as cli
from tomodrgn_core.io import load_particles, read_star
from tomodrgn_core.io import _schema as S
from tomodrgn_core.physics import euler_to_matrix
from tomodrgn_core.physics._geometry import from_scipion_matrix, relion5_item_pose, scipion_matrix

sys.path.insert(0, str(Path(__file__).parent))
from _data import RELION5_OPT  # noqa: E402
from test_tiltseries import ccs, unshift  # noqa: E402  (shared test helpers)


def test_scipion_matrix_places_the_particle_at_coordinate_minus_offset():
    rng = np.random.default_rng(0)
    A = euler_to_matrix(*rng.uniform(-180, 180, (3, 20)))
    offset = rng.normal(size=(20, 3)) * 5
    M = scipion_matrix(A, offset)
    # Scipion: f'(r) = f(M r); the particle's centre (reference origin) is where M r = 0
    centre = np.linalg.solve(M[:, :3, :3], -M[:, :3, 3][..., None])[..., 0]
    np.testing.assert_allclose(centre, -offset, atol=1e-9)
    np.testing.assert_allclose(M[:, :3, :3], np.swapaxes(A, 1, 2))  # the transpose of RELION's A
    A2, o2 = from_scipion_matrix(M + rng.normal(scale=1e-7, size=M.shape))  # sqlite-rounded floats
    np.testing.assert_allclose(A2, A, atol=1e-6)
    np.testing.assert_allclose(o2, offset, atol=1e-5)
    # reliontomo's RELION 5 items: A_sub and the origin in the matrix, A_p apart; RELION: centre = coord - A_sub o
    A_p = euler_to_matrix(*rng.uniform(-180, 180, (3, 20)))
    pose, off = relion5_item_pose(scipion_matrix(A, offset), A_p)
    np.testing.assert_allclose(pose, A @ A_p, atol=1e-9)
    np.testing.assert_allclose(off, np.einsum("nij,nj->ni", A, offset), atol=1e-9)


def test_particle_table_of_the_relion5_fixture(tmp_path):
    out = tmp_path / "table.csv"
    assert cli(["particle_table", str(RELION5_OPT), "-o", str(out)]) == 0
    t = pd.read_csv(out)
    info = json.loads(out.with_suffix(".json").read_text())
    assert (info["source"], info["n_particles"], info["box"], info["pixel_size"]) == ("relion5", 40, 32, 12.0)
    assert Path(info["optimisation_set"]) == RELION5_OPT.resolve()
    assert list(t["particle_index"]) == list(range(40)) and t["particle_id"].iloc[0] == "Unt_083/1"
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in t["image_path"])  # resolved stacks
    blocks = read_star(Path(info["particles_path"]))
    rows = blocks["particles"]
    assert "rlnTomoSubtomogramRot" not in rows  # WarpTools writes none: A_sub = I (composition: test above)
    A = euler_to_matrix(rows["rlnAngleRot"], rows["rlnAngleTilt"], rows["rlnAnglePsi"])
    M = np.zeros((40, 4, 4))
    M[:, :3] = t[[f"m{i}{j}" for i in range(3) for j in range(4)]].to_numpy().reshape(40, 3, 4)
    pose, offset = from_scipion_matrix(M)
    np.testing.assert_allclose(pose, A, atol=1e-9)  # the particle's pose: A_sub A_p
    # centred coordinates: WarpTools' rlnCoordinate (px of the 1.667 A tilt series, from the corner) - half the
    # tomogram (rlnTomoSizeX 4400 px), at the set's 12 A/px
    np.testing.assert_allclose(t["coord_x_px"], (rows["rlnCoordinateX"] - 2200) * 1.667 / 12.0, atol=1e-6)
    np.testing.assert_allclose(t["rln_rot"], rows["rlnAngleRot"])  # raw columns handed on for reliontomo's items
    # the reference image of each particle is its tilt nearest 0 degrees
    ps = load_particles(RELION5_OPT)
    tab = ps.table
    nearest = tab.loc[tab[S.TILT_ANGLE].abs().groupby(tab[S.PARTICLE_INDEX]).idxmin()]
    assert list(t["image_index"]) == list(nearest[S.IMAGE_INDEX])
    assert cli(["particle_table", str(RELION5_OPT), "-o", str(out)]) == 2  # no silent overwrite


def test_simulated_tilt_series_files_extract_back_to_the_truth(tmp_path):
    """The files of simulate_tilt_series (stack, .tlt, .xf, corner-origin coordinates, defocus) read by
    extract_particles give back each particle's exact tilt images: the files say what the truth says."""
    d = tmp_path / "sim"
    assert cli(["simulate_tilt_series", "-o", str(d), "--n-tomos", "1", "-n", "4", "-D", "24",
                "--tomo-shape", "192", "192", "40", "--seed", "4"]) == 0
    truth = json.loads((d / "ground_truth" / "truth.json").read_text())
    ts = truth["tomograms"]["TS_01"]
    tlt = np.loadtxt(d / "tilt_series" / "TS_01.tlt")
    np.testing.assert_allclose(tlt[:, 0], ts["tilt_angles"], atol=1e-3)
    np.savetxt(tmp_path / "dose.txt", tlt[:, 1] - 3.0)  # the .tlt holds the dose after each tilt
    coords = np.loadtxt(d / "coordinates" / "TS_01.txt")
    np.savetxt(tmp_path / "coords.txt", np.c_[coords, ts["angles"]])
    np.savetxt(tmp_path / "defocus.txt", np.loadtxt(d / "ctf" / "TS_01_defocus.txt"))
    out = tmp_path / "particles.star"
    np.savetxt(tmp_path / "angles.txt", tlt[:, 0])
    assert cli(["extract_particles", str(d / "tilt_series" / "TS_01.mrcs"), "--tlt", str(tmp_path / "angles.txt"),
                "--xf", str(d / "tilt_series" / "TS_01.xf"), "--dose", str(tmp_path / "dose.txt"),
                "--coords", str(tmp_path / "coords.txt"), "--tomo-size", "192", "192", "40", "-D", "24",
                "--defocus", str(tmp_path / "defocus.txt"), "--no-normalise", "-o", str(out)]) == 0
    ps = load_particles(out)
    t = ps.table
    np.testing.assert_allclose(t[S.DOSE], np.tile(ts["dose"], 4), atol=1e-3)
    np.testing.assert_allclose(t[S.DEFOCUS_U], np.tile(ts["defocus"], 4), atol=0.01)
    imgs = ps.images(np.arange(len(t))).astype(np.float64)
    centred = unshift(imgs, t[[S.SHIFT_X, S.SHIFT_Y]].to_numpy() / 10.0)
    direct = np.load(d / "ground_truth" / "TS_01_direct.npy")
    assert ccs(centred, direct.reshape(-1, 24, 24)).min() > 0.95


def test_prepare_spec_errors_name_the_file(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"tilt_series": [{"tomo_id": "TS_01"}]}))
    assert cli(["prepare_image_series", str(spec), "-D", "24", "-o", str(tmp_path / "p.star")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"tomodrgn prepare_image_series: error: {spec}: tilt series 1 lacks") and "\n" not in err
    spec.write_text("{not json")
    assert cli(["prepare_image_series", str(spec), "-D", "24", "-o", str(tmp_path / "p.star")]) == 2
    assert "unreadable tilt-series description" in capsys.readouterr().err
    assert not (tmp_path / "p.star").exists()
