"""spatial_stats on simulated tomograms where class 1 sits in clusters and class 0 is uniform: the clustered class
is found, the uniform one is not; nearest-neighbour distances equal a direct computation; one-line errors."""
import json
import re
import shutil

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import starfile

from tomodrgn_core.analysis.palette import OKABE_ITO
from tomodrgn_core.cli import main as cli
from tomodrgn_core.io import schema as S, write_volume
from tomodrgn_core.simulate import simulate, simulate_dataset


@pytest.fixture(scope="module")
def clustered(tmp_path_factory):
    """300 particles in 3 tomograms, class 1 in 3 balls of 300 A per tomogram, class 0 uniform (tiny images: only
    the coordinates matter here)."""
    d = tmp_path_factory.mktemp("clustered")
    return simulate_dataset(d, n_particles=300, box=16, n_classes=2, seed=0, max_tilt=6.0, n_tomos=3,
                            clustered_class=1)


def direct_nn(sim):
    """Brute force from the simulation's own table: all pairwise distances within each tomogram."""
    t = sim.table.groupby(S.PARTICLE_INDEX).first()
    xyz = t[[S.COORD_X, S.COORD_Y, S.COORD_Z]].to_numpy(float)
    tomo = t[S.TOMO_ID].to_numpy()
    d = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)
    d[tomo[:, None] != tomo[None]] = np.inf
    np.fill_diagonal(d, np.inf)
    same = sim.labels[:, None] == sim.labels[None]
    return d.min(1), np.where(same, d, np.inf).min(1), np.where(~same, d, np.inf).min(1)


def test_clustered_class_is_found_and_the_uniform_one_is_not(clustered, tmp_path, capsys):
    sim = clustered["dataset"]
    out = tmp_path / "sp"
    assert cli(["spatial_stats", str(clustered["warp"]), "--labels", str(clustered["labels"]), "-o", str(out),
                "--n-shuffles", "200"]) == 0
    printed = capsys.readouterr().out
    assert "class 1 (" in printed and "clustered" in printed
    table = pd.read_csv(out / "clustering.csv").set_index("class")
    assert table.loc[1, "verdict"] == "clustered"
    assert table.loc[1, "median_nn_same_class_A"] < table.loc[1, "shuffled_2.5pct_A"]  # shorter than any shuffle
    assert table.loc[1, "p_clustered"] < 0.01
    assert table.loc[0, "verdict"] != "clustered" and table.loc[0, "p_clustered"] > 0.5  # uniform: not shorter
    assert table.loc[0, "median_nn_same_class_A"] > table.loc[0, "shuffled_median_A"]

    nb = pd.read_csv(out / "neighbours.csv")
    assert nb["particle"].tolist() == list(range(300)) and (nb["label"].to_numpy() == sim.labels).all()
    nn_any, nn_same, nn_other = direct_nn(sim)
    np.testing.assert_allclose(nb["nn_distance_A"], nn_any, rtol=1e-5)
    np.testing.assert_allclose(nb["nn_same_class_A"], nn_same, rtol=1e-5)
    np.testing.assert_allclose(nb["nn_other_class_A"], nn_other, rtol=1e-5)

    comp = pd.read_csv(out / "composition.csv").set_index("tomogram")
    per_tomo = pd.crosstab(sim.tomo_of_particle, sim.labels)
    assert (comp[["class_0", "class_1"]].to_numpy() == per_tomo.to_numpy()).all()
    assert json.loads((out / "summary.json").read_text())["n_tomograms"] == 3
    for png in ("composition.png", "nn_same_class.png", "nn_distance.png", "nn_between_classes.png"):
        img = mpimg.imread(out / png)
        assert img.shape[0] >= 250 and img[..., :3].std() > 0.01, png


def test_uniform_classes_are_as_shuffled(tmp_path):
    """No class placed in clusters: neither class differs from its shuffled labels."""
    sim = simulate_dataset(tmp_path / "u", n_particles=300, box=16, n_classes=2, seed=3, max_tilt=6.0, n_tomos=3)
    assert cli(["spatial_stats", str(sim["warp"]), "--labels", str(sim["labels"]), "-o", str(tmp_path / "sp"),
                "--n-shuffles", "200"]) == 0
    assert set(pd.read_csv(tmp_path / "sp" / "clustering.csv")["verdict"]) == {"as shuffled"}


def test_clusters_move_only_the_clustered_class():
    plain = simulate(n_particles=200, box=16, n_classes=2, seed=0, max_tilt=6.0, snr=None)
    moved = simulate(n_particles=200, box=16, n_classes=2, seed=0, max_tilt=6.0, snr=None, clustered_class=1)
    assert np.array_equal(plain.images, moved.images) and np.array_equal(plain.labels, moved.labels)
    first = lambda s: s.table.groupby(S.PARTICLE_INDEX).first()[[S.COORD_X, S.COORD_Y, S.COORD_Z]].to_numpy()  # noqa
    same = np.all(first(plain) == first(moved), axis=1)
    assert (same == (plain.labels == 0)).all()


def test_class_colours_are_colour_blind_safe(clustered, tmp_path):
    vols = tmp_path / "vols"
    for k in range(2):
        write_volume(vols / f"vol_{k:03d}.mrc", np.ones((8, 8, 8), np.float32) * (k + 1), 8.0)
    assert cli(["subtomo2chimerax", str(clustered["warp"]), "-o", str(tmp_path / "cx"), "--vols-dir", str(vols),
                "--labels", str(clustered["labels"])]) == 0
    text = "".join(p.read_text() for p in (tmp_path / "cx").glob("*.cxc"))
    used = set(re.findall(r"color (#[0-9a-f]{6})", text))
    assert used == {OKABE_ITO[0].lower(), OKABE_ITO[1].lower()}


def test_spatial_stats_errors_are_one_line(clustered, tmp_path, capsys):
    np.save(tmp_path / "short.npy", np.zeros(10))
    assert cli(["spatial_stats", str(clustered["warp"]), "--labels", str(tmp_path / "short.npy"), "-o",
                str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "labels file has 10 entries for 300 particles" in err and "\n" not in err
    # a STAR without tomogram coordinates: the first particle is named
    star = tmp_path / "nocoords.star"
    df = starfile.read(clustered["warp"])
    starfile.write(df.drop(columns=[c for c in df.columns if "Coordinate" in c]), star)
    for p in clustered["warp"].parent.glob("*.mrcs"):
        shutil.copy(p, tmp_path / p.name)
    assert cli(["spatial_stats", str(star), "--labels", str(clustered["labels"]), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "row 1: particle has no tomogram coordinates" in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_labels_per_ind_entry_match_labels_per_particle(clustered, tmp_path):
    """--ind with one label per --ind entry (in the file's order) gives the same table as per-particle labels."""
    labels = np.load(clustered["labels"])
    rows = np.random.default_rng(0).choice(300, size=150, replace=False)  # unsorted, as a user may write it
    np.savetxt(tmp_path / "rows.txt", rows, fmt="%d")
    np.savetxt(tmp_path / "per_row.txt", labels[rows], fmt="%d")
    for name, lab in (("a", clustered["labels"]), ("b", tmp_path / "per_row.txt")):
        assert cli(["spatial_stats", str(clustered["warp"]), "--labels", str(lab), "--ind", str(tmp_path / "rows.txt"),
                    "-o", str(tmp_path / name), "--n-shuffles", "20"]) == 0
    a, b = (pd.read_csv(tmp_path / n / "neighbours.csv") for n in "ab")
    assert a["particle"].tolist() == sorted(rows.tolist())
    pd.testing.assert_frame_equal(a, b)
    assert (a["label"].to_numpy() == labels[np.sort(rows)]).all()
