"""subtomo2chimerax: placements follow the documented pose/coordinate convention; the script is complete."""
import re
from pathlib import Path

import numpy as np
import pytest

from tomodrgn_core.analysis.chimerax import placements
from tomodrgn_core.cli import main as cli
from tomodrgn_core.io import load_particles, read_star, write_volume
from tomodrgn_core.physics import euler_to_matrix
from tomodrgn_core.simulate import simulate_dataset
from _data import RELION5, RELION5_OPT  # noqa: F401  (tests/data)

FIXTURE = RELION5
OPT = FIXTURE / "warptools_test_4-tomos_10-ptcls_box-32_angpix-12_optimisation_set.star"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("cx")
    return simulate_dataset(d, n_particles=8, box=16, n_classes=2, snr=1.0, seed=4, max_tilt=9, layout="both")


def matrices(script: str):
    out = []
    for line in script.splitlines():
        if line.startswith("view matrix models"):
            v = np.array(line.split(",")[1:], float).reshape(3, 4)
            out.append(v)
    return np.array(out)


def test_warp_placement_is_particle_pose_and_coordinate(sim):
    ps = load_particles(sim["warp"])
    place = placements(ps)
    ds = sim["dataset"]
    R = place[[f"r{i}{j}" for i in (1, 2, 3) for j in (1, 2, 3)]].to_numpy().reshape(-1, 3, 3)
    assert np.allclose(R, ds.particle_poses, atol=1e-5)  # the 0-degree image's pose = the particle's
    first = ps.row_offsets[:-1]
    assert np.allclose(place[["x", "y", "z"]], ps.table[["coord_x", "coord_y", "coord_z"]].to_numpy()[first])


def test_relion5_placement_uses_star_angles(sim):
    ps = load_particles(sim["relion5"])
    place = placements(ps, centered=True)
    blocks = read_star(ps.origin["particles_path"])
    df = next(b for b in blocks.values() if hasattr(b, "columns") and "rlnAngleRot" in b.columns)
    want = euler_to_matrix(df["rlnAngleRot"], df["rlnAngleTilt"], df["rlnAnglePsi"])
    R = place[[f"r{i}{j}" for i in (1, 2, 3) for j in (1, 2, 3)]].to_numpy().reshape(-1, 3, 3)
    assert np.allclose(R, want, atol=1e-6)
    assert np.allclose(np.linalg.det(R), 1.0)
    # the simulator writes rlnTomoHand +1 (no mirror: physics/_geometry.py), so the STAR holds its own poses
    assert np.allclose(R, sim["dataset"].particle_poses, atol=1e-5)


def test_cxc_per_class_volumes_coloured_by_class(sim, tmp_path):
    labels = np.load(sim["labels"])
    vols = tmp_path / "vols"
    for k in range(2):
        v = np.zeros((16, 16, 16), np.float32)
        v[6:10, 6:10, 6:10] = k + 1
        write_volume(vols / f"vol_{k:03d}.mrc", v, 8.0)
    np.save(tmp_path / "labels.npy", labels)
    out = tmp_path / "cx"
    assert cli(["subtomo2chimerax", str(sim["warp"]), "-o", str(out), "--vols-dir", str(vols),
                "--labels", str(tmp_path / "labels.npy")]) == 0
    scripts = sorted(out.glob("*.cxc"))
    assert len(scripts) == 2  # one per tomogram
    text = "".join(s.read_text() for s in scripts)
    opened = re.findall(r"^open (.+)$", text, re.M)
    assert len(opened) == 8
    assert len(set(re.findall(r"color (#[0-9a-f]{6})", text))) == 2
    assert "originIndex 8,8,8 voxelSize 8" in text
    place = placements(load_particles(sim["warp"]))
    m = matrices(scripts[0].read_text())
    tomo = scripts[0].stem
    sel = place[place["tomo_id"] == tomo]
    assert np.allclose(m[:, :, 3], sel[["x", "y", "z"]].to_numpy(), rtol=1e-5)
    for path, k in zip(opened[:len(sel)], labels[sel["particle"].to_numpy()]):
        assert path.endswith(f"vol_{k:03d}.mrc")


def test_vols_dir_must_hold_one_volume_per_class(sim, tmp_path, capsys):
    """analyze.E/pc1 (10 volumes along a PC) with 2-class labels: vol_000/001 are not the class volumes."""
    labels = np.load(sim["labels"])
    assert labels.max() == 1 and len(labels) == 8
    np.save(tmp_path / "labels.npy", labels)
    pc1 = tmp_path / "analyze.1" / "pc1"
    for k in range(10):
        write_volume(pc1 / f"vol_{k:03d}.mrc", np.zeros((16, 16, 16), np.float32), 8.0)
    out = tmp_path / "cx"
    assert cli(["subtomo2chimerax", str(sim["warp"]), "-o", str(out), "--vols-dir", str(pc1),
                "--labels", str(tmp_path / "labels.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{pc1}: 10 vol_*.mrc files but the labels have 2 classes" in err, err
    assert "fix: point --vols-dir at the kmeansK folder" in err and not out.exists()


def test_fixture_relion5_script_and_errors(tmp_path, capsys):
    vol = FIXTURE / "warptools_test_box-32_angpix-12_reconstruct.mrc"
    out = tmp_path / "fx"
    assert cli(["subtomo2chimerax", str(OPT), "-o", str(out), "--vol-path", str(vol), "--tomoname",
                "Unt_083.tomostar"]) == 0
    m = matrices((out / "Unt_083.cxc").read_text())
    assert m.shape == (10, 3, 4)
    assert np.allclose(np.linalg.det(m[:, :, :3]), 1.0, atol=1e-4)
    # default frame: measured from the tomogram's first voxel -> inside the 4400x6000x1400 px x 1.667 A box
    assert np.all(m[:, :, 3] > 0) and np.all(m[:, :, 3] < np.array([4400, 6000, 1400]) * 1.667)
    assert cli(["subtomo2chimerax", str(OPT), "-o", str(tmp_path / "l0"), "--vol-path", str(vol), "--tomoname",
                "Unt_083.tomostar", "--vol-render-level", "0"]) == 0
    levels = re.findall(r" level (\S+) ", (tmp_path / "l0" / "Unt_083.cxc").read_text())
    assert len(levels) == 10 and all(float(v) == 0.0 for v in levels)  # an explicit 0 is honoured
    assert cli(["subtomo2chimerax", str(OPT), "-o", str(out), "--vol-path", str(vol), "--tomoname", "nope"]) == 2
    assert "no particle in tomogram 'nope'" in capsys.readouterr().err
