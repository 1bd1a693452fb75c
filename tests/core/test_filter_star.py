"""filter_star: subsets in the input's own format (Warp and RELION 5) keep exactly the chosen particles."""
import pickle

import numpy as np
import pytest

from tomodrgn_core.cli import main as cli
from tomodrgn_core.io import load_particles
from tomodrgn_core.io import schema as S
from tomodrgn_core.simulate import simulate_dataset


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("filter")
    return simulate_dataset(d, n_particles=12, box=16, n_classes=2, snr=1.0, seed=3, max_tilt=15, layout="both",
                            drop_tilts=2)


def tilts_by_particle(ps):
    return {pid: (len(g), tuple(np.round(g[S.TILT_ANGLE], 3)), tuple(g[S.DOSE]))
            for pid, g in ps.table.groupby(S.PARTICLE_ID, sort=False)}


@pytest.mark.parametrize("layout", ["warp", "relion5"])
def test_subset_by_index_keeps_particles_and_all_tilts(sim, layout, tmp_path):
    src = load_particles(sim[layout])
    keep = np.array([7, 0, 3, 11])
    ind = tmp_path / "ind.pkl"
    pickle.dump(keep, open(ind, "wb"))
    out = tmp_path / "sub.star"
    assert cli(["filter_star", str(sim[layout]), "--ind", str(ind), "-o", str(out)]) == 0
    sub = load_particles(out)
    assert sub.source == src.source and sub.n_particles == 4
    ids = src.table[S.PARTICLE_ID].unique()[np.sort(keep)]
    assert list(sub.table[S.PARTICLE_ID].unique()) == list(ids)  # original order
    full, part = tilts_by_particle(src), tilts_by_particle(sub)
    assert all(part[i] == full[i] for i in ids)
    rows = sub.table[S.IMAGE_INDEX].to_numpy()
    assert np.array_equal(sub.images(np.arange(len(rows))),
                          src.images(np.flatnonzero(src.table[S.PARTICLE_ID].isin(ids).to_numpy())))
    assert np.array_equal(pickle.load(open(tmp_path / "sub_ind.pkl", "rb")), np.sort(keep))
    assert np.array_equal(np.loadtxt(tmp_path / "sub_ind.txt", dtype=int), np.sort(keep))
    if layout == "relion5":
        assert (tmp_path / "sub_optimisation_set.star").is_file()
        assert load_particles(tmp_path / "sub_optimisation_set.star").n_particles == 4


def test_subset_by_labels_and_mask(sim, tmp_path):
    labels = np.load(sim["labels"])
    pickle.dump(labels, open(tmp_path / "labels.pkl", "wb"))
    assert cli(["filter_star", str(sim["warp"]), "--labels", str(tmp_path / "labels.pkl"), "--labels-sel", "1",
                "-o", str(tmp_path / "c1.star")]) == 0
    assert load_particles(tmp_path / "c1.star").n_particles == int((labels == 1).sum())
    mask = np.zeros(12, bool)
    mask[[2, 5]] = True
    np.save(tmp_path / "mask.npy", mask)
    assert cli(["filter_star", str(sim["relion5"]), "--mask", str(tmp_path / "mask.npy"),
                "-o", str(tmp_path / "m.star")]) == 0
    src, sub = load_particles(sim["relion5"]), load_particles(tmp_path / "m.star")
    assert list(sub.table[S.PARTICLE_ID].unique()) == list(src.table[S.PARTICLE_ID].unique()[[2, 5]])


def test_bad_selections_give_one_line_errors(sim, tmp_path, capsys):
    (tmp_path / "ind.txt").write_text("1\n40\n")
    assert cli(["filter_star", str(sim["warp"]), "--ind", str(tmp_path / "ind.txt"), "-o", str(tmp_path / "a.star")]) == 2
    err = capsys.readouterr().err
    assert "ind.txt" in err and "row 2" in err and "out of range" in err and "fix:" in err
    pickle.dump(np.zeros(5, int), open(tmp_path / "l.pkl", "wb"))
    assert cli(["filter_star", str(sim["warp"]), "--labels", str(tmp_path / "l.pkl"), "--labels-sel", "0",
                "-o", str(tmp_path / "b.star")]) == 2
    assert "5 entries for 12 particles" in capsys.readouterr().err
    (tmp_path / "ok.txt").write_text("1\n")
    assert cli(["filter_star", str(sim["warp"]), "--ind", str(tmp_path / "ok.txt"), "-o", str(tmp_path / "c.star")]) == 0
    assert cli(["filter_star", str(sim["warp"]), "--ind", str(tmp_path / "ok.txt"), "-o", str(tmp_path / "c.star")]) == 2
    assert "exist" in capsys.readouterr().err  # never overwrite silently
