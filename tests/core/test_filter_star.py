"""filter_star: subsets in the input's own format (Warp and RELION 5) keep exactly the chosen particles."""
import os
import pickle
from pathlib import Path

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


def _relion_project(sim, proj):
    """The simulated RELION 5 set as a RELION project: files in Extract/job002/, every name project-relative."""
    import shutil

    from tomodrgn_core.io import read_star, write_star
    job = proj / "Extract" / "job002"
    shutil.copytree(sim["relion5"].parent, job)
    blocks = read_star(job / "sim_particles.star")
    blocks["particles"]["rlnImageName"] = "Extract/job002/" + blocks["particles"]["rlnImageName"]
    write_star(job / "sim_particles.star", blocks, overwrite=True)
    write_star(job / "sim_optimisation_set.star", {"": {"rlnTomoParticlesFile": "Extract/job002/sim_particles.star",
                                                        "rlnTomoTomogramsFile": "Extract/job002/sim_tomograms.star"}},
               overwrite=True)
    return job / "sim_optimisation_set.star"


def _opt_entries(opt):
    from tomodrgn_core.io import read_star
    block = next(b for b in read_star(opt).values() if isinstance(b, dict))
    return block["rlnTomoParticlesFile"], block["rlnTomoTomogramsFile"]


def test_relion5_relative_paths_are_relative_to_the_project_dir(sim, tmp_path, monkeypatch):
    from tomodrgn_core.io import read_star
    proj, elsewhere = tmp_path / "proj", tmp_path / "elsewhere"
    elsewhere.mkdir()
    src_opt = _relion_project(sim, proj)
    monkeypatch.chdir(elsewhere)  # project-relative names are found from the STAR's grandparent, not the cwd
    src = load_particles(src_opt)
    assert src.n_particles == 12
    pickle.dump(np.array([1, 4, 9]), open(tmp_path / "ind.pkl", "wb"))
    monkeypatch.chdir(proj)  # RELION runs in its project folder: the default --project-dir
    assert cli(["filter_star", "Extract/job002/sim_optimisation_set.star", "--ind", str(tmp_path / "ind.pkl"),
                "-o", "Select/job003/sub.star", "--relative-paths"]) == 0
    names = list(read_star(proj / "Select/job003/sub.star")["particles"]["rlnImageName"])
    assert names == [f"Extract/job002/sim_stacks/particle_{i:05d}.mrcs" for i in (1, 4, 9)]
    assert _opt_entries(proj / "Select/job003/sub_optimisation_set.star") == (
        "Select/job003/sub.star", "Select/job003/sub_tomograms.star")
    # the same from another folder with an explicit --project-dir
    monkeypatch.chdir(elsewhere)
    assert cli(["filter_star", str(src_opt), "--ind", str(tmp_path / "ind.pkl"), "-o",
                str(proj / "Select/job004/sub.star"), "--relative-paths", "--project-dir", str(proj)]) == 0
    assert list(read_star(proj / "Select/job004/sub.star")["particles"]["rlnImageName"]) == names
    assert _opt_entries(proj / "Select/job004/sub_optimisation_set.star")[0] == "Select/job004/sub.star"
    # read back from outside the project: same stacks, same particles, same images
    again = load_particles(proj / "Select/job003/sub_optimisation_set.star")
    assert again.n_particles == 3
    sub = src.subset(np.array([1, 4, 9]))
    assert list(again.table[S.IMAGE_PATH]) == list(sub.table[S.IMAGE_PATH])
    assert list(again.table[S.PARTICLE_ID]) == list(sub.table[S.PARTICLE_ID])
    np.testing.assert_array_equal(again.images(np.arange(len(again.table))), sub.images(np.arange(len(sub.table))))


def test_warp_relative_paths_stay_relative_to_the_output_star(sim, tmp_path, monkeypatch, capsys):
    from tomodrgn_core.io import read_star
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.txt").write_text("0\n2\n")
    assert cli(["filter_star", str(sim["warp"]), "--ind", "ok.txt", "-o", "a/b/sub.star", "--relative-paths"]) == 0
    stack = sim["warp"].with_suffix(".mrcs")
    rel = os.path.relpath(stack, tmp_path / "a" / "b")
    assert set(read_star(tmp_path / "a/b/sub.star")["particles"]["rlnImageName"].str.split("@").str[1]) == {rel}
    # --project-dir would be ignored for Warp input, and without --relative-paths: refused, one line each
    assert cli(["filter_star", str(sim["warp"]), "--ind", "ok.txt", "-o", "c.star", "--relative-paths",
                "--project-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--project-dir is for RELION 5" in err and "fix: drop --project-dir" in err and "\n" not in err
    assert cli(["filter_star", str(sim["relion5"]), "--ind", "ok.txt", "-o", "d.star",
                "--project-dir", str(tmp_path)]) == 2
    assert "only matters with --relative-paths" in capsys.readouterr().err
    assert cli(["filter_star", str(sim["relion5"]), "--ind", "ok.txt", "-o", "d.star", "--relative-paths",
                "--project-dir", "no_such_project"]) == 2
    err = capsys.readouterr().err
    assert "no_such_project: --project-dir is not an existing folder" in err and "RELION project folder" in err
    assert not (tmp_path / "c.star").exists() and not (tmp_path / "d.star").exists()


def test_labels_file_given_as_ind_is_refused(sim, tmp_path, capsys):
    """Cluster labels (one 0/1 per particle) passed as --ind were taken as the particles {0, 1}, silently."""
    labels = np.load(sim["labels"]).astype(np.int64)  # 12 values, classes 0 and 1
    assert len(labels) == 12 and set(labels) == {0, 1}
    pickle.dump(labels, open(tmp_path / "labels.pkl", "wb"))
    out = tmp_path / "wrong.star"
    assert cli(["filter_star", str(sim["warp"]), "--ind", str(tmp_path / "labels.pkl"), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(tmp_path / "labels.pkl") in err, err
    assert "10 of its 12 values are repeats" in err, err
    assert err.endswith("fix: give each particle index once; for cluster labels use --labels labels.pkl "
                        "--labels-sel K"), err
    assert not out.exists()
    # one repeat in a text list names its row; the same indices given once are fine
    (tmp_path / "dup.txt").write_text("4\n7\n4\n")
    assert cli(["filter_star", str(sim["warp"]), "--ind", str(tmp_path / "dup.txt"), "-o", str(out)]) == 2
    assert "row 3" in capsys.readouterr().err
    (tmp_path / "once.txt").write_text("4\n7\n")
    assert cli(["filter_star", str(sim["warp"]), "--ind", str(tmp_path / "once.txt"), "-o", str(out)]) == 0
    assert load_particles(out).n_particles == 2


def test_index_and_mask_tables_are_refused_not_flattened(sim, tmp_path, capsys):
    run = lambda flag, f: cli(["filter_star", str(sim["warp"]), flag, str(f), "-o", str(tmp_path / f"{f.stem}.star")])
    np.save(tmp_path / "pairs.npy", np.array([[0, 1], [2, 3], [4, 5]]))
    pickle.dump([[0, 1], [2, 3]], open(tmp_path / "lists.pkl", "wb"))
    (tmp_path / "table.txt").write_text("0 1\n2 3\n")
    np.save(tmp_path / "mask2d.npy", np.ones((2, 6), bool))
    for flag, f, what in [("--ind", tmp_path / "pairs.npy", "an array of shape (3, 2)"),
                          ("--ind", tmp_path / "lists.pkl", "an array of shape (2, 2)"),
                          ("--ind", tmp_path / "table.txt", "2 lines of 2 values"),
                          ("--mask", tmp_path / "mask2d.npy", "an array of shape (2, 6)")]:
        assert run(flag, f) == 2, f
        err = capsys.readouterr().err.strip()
        assert str(f) in err and f"holds {what}, not a 1-D list" in err and "fix: save a 1-D list" in err, err
        assert "\n" not in err and not (tmp_path / f"{f.stem}.star").exists()
    # one non-singleton dimension is a list: a column, a row, or all values on one line
    np.save(tmp_path / "column.npy", np.array([[0], [3], [5]]))
    pickle.dump([[0, 3, 5]], open(tmp_path / "row.pkl", "wb"))
    (tmp_path / "line.txt").write_text("0 3 5\n")
    for f in ("column.npy", "row.pkl", "line.txt"):
        assert run("--ind", tmp_path / f) == 0, f
        assert load_particles(tmp_path / f"{Path(f).stem}.star").n_particles == 3


def test_missing_datadir_is_one_line_error(sim, tmp_path, capsys):
    missing = tmp_path / "no_such_folder"
    (tmp_path / "ind.txt").write_text("0\n")
    assert cli(["filter_star", str(sim["warp"]), "--ind", str(tmp_path / "ind.txt"), "--datadir", str(missing),
                "-o", str(tmp_path / "x.star")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(missing) in err and "not an existing folder" in err
    assert "fix: pass the folder that holds the image stacks" in err
