"""Analysis building blocks on given latent arrays with stub volume makers (no training)."""
import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from tomodrgn_core.analysis.analyze import analyze_latent
from tomodrgn_core.analysis.convergence import latent_shift, neighbor_overlap, select_epochs
from tomodrgn_core.analysis.latent import cluster_kmeans, run_pca
from tomodrgn_core.analysis.rundir import read_pickle
from tomodrgn_core.analysis.trajectories import graph_path, pc_traversal
from tomodrgn_core.analysis.volumes import VolumeMaker, voxel_pca
from tomodrgn_core.errors import TomoDrgnInputError
from tomodrgn_core.io import read_volume


def two_blobs(n=60, zdim=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n // 2)
    z = rng.normal(scale=0.3, size=(n, zdim)) + 4.0 * labels[:, None]
    return z.astype(np.float32), labels


def stub_maker(D=16):
    """Volume = a cube whose brightness is z[0]: lets tests check which z produced which file."""
    def fn(z):
        v = np.zeros((len(z), D, D, D), np.float32)
        v[:, 4:12, 4:12, 4:12] = z[:, :1, None, None]
        return v
    return VolumeMaker(fn, pixel_size=5.0)


def assert_real_png(path, min_size=200):
    img = mpimg.imread(path)
    assert img.shape[0] >= min_size and img.shape[1] >= min_size, img.shape
    assert img[..., :3].std() > 0.01  # not a blank canvas


def test_kmeans_centres_are_real_particles():
    z, labels = two_blobs()
    cl = cluster_kmeans(z, 2, seed=0)
    assert sorted(cl.sizes.tolist()) == [30, 30]
    assert np.array_equal(cl.centers, z[cl.centers_ind])
    assert set(labels[cl.centers_ind]) == {0, 1}


def test_pc_traversal_spans_percentiles_along_pc1():
    z, _ = two_blobs()
    pca = run_pca(z)
    zs, vals = pc_traversal(pca, 1, n=7, lim=(5, 95))
    assert zs.shape == (7, 3) and np.all(np.diff(vals) > 0)
    assert np.allclose(vals[[0, -1]], np.percentile(pca.coords[:, 0], [5, 95]))
    back = (zs - pca.mean) @ pca.components.T
    assert np.allclose(back[:, 0], vals, atol=1e-4) and np.allclose(back[:, 1:], 0, atol=1e-4)
    with pytest.raises(TomoDrgnInputError):
        pc_traversal(pca, 4)


def test_graph_path_bridges_separate_classes():
    z, labels = two_blobs()
    path = graph_path(z, [0, 59], avg_neighbors=3, max_neighbors=5)
    assert path[0] == 0 and path[-1] == 59 and len(set(path.tolist())) == len(path)
    steps = np.linalg.norm(np.diff(z[path], axis=0), axis=1)
    assert (steps > 2).sum() == 1  # exactly one jump between the two groups
    with pytest.raises(TomoDrgnInputError, match="anchor 99"):
        graph_path(z, [0, 99])


def test_latent_shift_ignores_affine_changes():
    z, _ = two_blobs()
    A = np.array([[0, 2, 0], [1, 0, 0], [0, 0, -3.0]])
    assert latent_shift(z, z @ A + 5) < 1e-6
    rot = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))[0]
    assert neighbor_overlap(z, 2.5 * z @ rot + 1) == 1.0  # distances only scale: same neighbours
    shuffled = np.random.default_rng(1).permutation(z)
    assert latent_shift(z, shuffled) > 0.5 and neighbor_overlap(z, shuffled) < 0.7
    assert select_epochs([0, 1, 2, 3, 4, 5, 6, 7], 3) == [1, 4, 7]
    assert select_epochs([4, 9, 14], 5, final=9) == [4, 9]


def test_voxel_pca_finds_the_varying_region():
    rng = np.random.default_rng(0)
    base = np.zeros((30, 8, 8, 8), np.float32)
    base[:, 2:4, 2:4, 2:4] = rng.normal(size=30)[:, None, None, None]  # one region varies
    coords, ratio, mean, comps = voxel_pca(base + 1e-3 * rng.normal(size=base.shape), n_components=3)
    assert ratio[0] > 0.95
    assert np.abs(comps[0][2:4, 2:4, 2:4]).min() > 5 * np.abs(comps[0][5:, 5:, 5:]).max()


def test_analyze_latent_writes_layout_and_volumes(tmp_path):
    z, labels = two_blobs()
    losses = {"epoch": np.arange(5), "loss": np.linspace(1, 0.5, 5), "mse": np.linspace(1, 0.5, 5),
              "kld": np.linspace(0.1, 1, 5)}
    s = analyze_latent(z, tmp_path, ksample=2, maker=stub_maker(), skip_umap=True, gmm=True, n_per_pc=4,
                       losses=losses, log=lambda m: None, truth=1 - labels)
    assert s["ari"] == {"kmeans": 1.0, "gmm": 1.0}  # two well-separated blobs, relabelled truth
    gt = json.loads((tmp_path / "kmeans2" / "ground_truth.json").read_text())
    assert sorted(sum(gt["confusion_matrix"], [])) == [0, 0, 30, 30]
    assert np.loadtxt(tmp_path / "gmm2" / "confusion_matrix.csv", delimiter=",").sum() == 60
    assert_real_png(tmp_path / "kmeans2" / "confusion_matrix.png")
    for name in ("z_pca.png", "z_pca_hexbin.png", "z_pca_explained_variance.png", "loss.png", "particles.csv",
                 "summary.json", "kmeans2/labels.pkl", "kmeans2/centers.txt", "kmeans2/centers_ind.txt",
                 "kmeans2/vol_000.mrc", "kmeans2/vol_001.mrc", "kmeans2/cluster_sizes.png", "gmm2/labels.pkl",
                 "pc1/vol_003.mrc", "pc2/z_values.txt"):
        assert (tmp_path / name).is_file(), name
    assert not (tmp_path / "umap.pkl").exists()
    km_labels = read_pickle(tmp_path / "kmeans2" / "labels.pkl")
    ind = np.loadtxt(tmp_path / "kmeans2" / "centers_ind.txt", dtype=int)
    centers = np.loadtxt(tmp_path / "kmeans2" / "centers.txt")
    assert np.allclose(centers, z[ind], atol=1e-5)
    for k in range(2):  # volume k was generated at centre k (stub brightness = z0)
        vol, apix = read_volume(tmp_path / "kmeans2" / f"vol_{k:03d}.mrc")
        assert apix == 5.0 and np.isclose(vol[8, 8, 8], centers[k, 0], atol=1e-5)
        assert km_labels[ind[k]] == k
    import pandas as pd
    table = pd.read_csv(tmp_path / "particles.csv")
    assert list(table.columns) == ["index", "star_row", "z0", "z1", "z2", "PC1", "PC2", "cluster", "gmm_cluster"]
    assert np.array_equal(table["cluster"], km_labels)
    assert np.array_equal(table["star_row"], table["index"])  # no particle_rows: z row i is STAR particle i
    assert json.loads((tmp_path / "summary.json").read_text())["kmeans_sizes"] == [30, 30]
    for png in ("z_pca.png", "kmeans2/z_pca.png", "loss.png", "kmeans2/cluster_sizes.png"):
        assert_real_png(tmp_path / png)


def test_analyze_latent_zdim1_uses_histograms(tmp_path):
    z, _ = two_blobs(zdim=1)
    s = analyze_latent(z, tmp_path, ksample=3, maker=None, skip_umap=False, log=lambda m: None)
    assert s["zdim"] == 1 and not s["umap"]
    assert (tmp_path / "pc1" / "z_values.txt").is_file() and not (tmp_path / "pc2").exists()  # default: min(2, zdim)
    assert_real_png(tmp_path / "z_pca.png")
    assert_real_png(tmp_path / "kmeans3" / "z_pca.png")
    # asking for more PCs than the latent space has is an error, not a quiet clamp
    with pytest.raises(TomoDrgnInputError, match=r"z\.7\.train\.pkl: --pc 2: no such principal component \(zdim is 1\)"
                                                 r".*fix: --pc 1\.\.1"):
        analyze_latent(z, tmp_path / "again", ksample=3, n_pcs=2, z_path="z.7.train.pkl", log=lambda m: None)
    assert not (tmp_path / "again").exists()


def record_axis_labels(monkeypatch):
    """{png name relative to its folder's parent: (xlabel, ylabel)} of every figure the plots module saves."""
    from tomodrgn_core.analysis import plots
    seen, save = {}, plots._save

    def spy(fig, path):
        ax = fig.axes[0]  # the data axes (a colour bar, if any, comes after)
        seen[f"{Path(path).parent.name}/{Path(path).name}"] = (ax.get_xlabel(), ax.get_ylabel())
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    return seen


def test_pca_axis_labels_show_explained_variance(tmp_path, monkeypatch):
    from tomodrgn_core.analysis.plots import pc_labels
    assert pc_labels([0.342, 0.12]) == ["PC1 (34.2%)", "PC2 (12.0%)"]
    assert pc_labels(np.array([1.0])) == ["PC1 (100.0%)", "PC2"]  # zdim 1: no second PC to quote
    rng = np.random.default_rng(4)
    z = (rng.normal(size=(80, 4)) * [5.0, 2.0, 1.0, 0.5]).astype(np.float32)  # unequal variances per axis
    seen = record_axis_labels(monkeypatch)
    out = tmp_path / "an"
    analyze_latent(z, out, ksample=2, skip_umap=True, n_pcs=1, n_per_pc=3, log=lambda m: None)
    table = np.loadtxt(out / "pca_explained_variance.csv", delimiter=",", skiprows=1)
    assert (out / "pca_explained_variance.csv").read_text().splitlines()[0] == \
        "PC,explained_variance_ratio,cumulative"
    ratio = table[:, 1]
    assert np.array_equal(table[:, 0], [1, 2, 3, 4]) and np.allclose(table[:, 2], np.cumsum(ratio))
    assert np.allclose(ratio, run_pca(z).explained_variance_ratio, atol=1e-6)
    assert ratio.sum() <= 1 + 1e-6 and ratio[0] > 0.7 and np.all(np.diff(ratio) < 0)
    want = (f"PC1 ({100 * ratio[0]:.1f}%)", f"PC2 ({100 * ratio[1]:.1f}%)")
    for png in ("an/z_pca.png", "an/z_pca_hexbin.png", "kmeans2/z_pca.png", "kmeans2/z_pca_hexbin.png"):
        assert seen[png] == want, (png, seen[png])
    assert json.loads((out / "summary.json").read_text())["explained_variance_ratio"] == pytest.approx(ratio, abs=1e-6)


def test_ksample_above_the_particle_count_is_one_line_error(tmp_path):
    z, _ = two_blobs(n=12)
    with pytest.raises(TomoDrgnInputError) as err:
        analyze_latent(z, tmp_path / "a", ksample=20, skip_umap=True, z_path="run/z.3.train.pkl")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("run/z.3.train.pkl: --ksample 20: more clusters than 12 particles")
    assert msg.endswith("fix: --ksample 1..12") and not (tmp_path / "a").exists()  # nothing written
    with pytest.raises(TomoDrgnInputError, match="--ksample 0: at least one cluster"):
        analyze_latent(z, tmp_path / "a", ksample=0, skip_umap=True)
    # k-means cannot find more clusters than distinct points: 12 particles at 4 places allow 4, not 6
    dup = np.repeat(z[[0, 1, 6, 7]], 3, axis=0)
    with pytest.raises(TomoDrgnInputError, match=r"12 particles \(4 distinct latent points\).*--ksample 1\.\.4"):
        analyze_latent(dup, tmp_path / "a", ksample=6, skip_umap=True)
    s = analyze_latent(dup, tmp_path / "b", ksample=4, skip_umap=True, log=lambda m: None)
    assert s["ksample"] == 4 and sorted(s["kmeans_sizes"]) == [3, 3, 3, 3]
    assert len(np.loadtxt(tmp_path / "b" / "kmeans4" / "centers_ind.txt")) == 4  # the folder says what it holds
    s = analyze_latent(z, tmp_path / "c", ksample=12, skip_umap=True, log=lambda m: None)  # the limit itself works
    assert s["kmeans_sizes"] == [1] * 12 and (tmp_path / "c" / "kmeans12" / "labels.pkl").is_file()


def fake_run(folder, z, n_particles=None, particles=None):
    """A training folder with only what analyze --skip-vol reads: z.0.train.pkl and config.yaml (with
    ``particles``, the trained STAR, analyze also writes the notebook)."""
    import pickle
    import yaml
    folder.mkdir()
    pickle.dump(z, open(folder / "z.0.train.pkl", "wb"))
    cfg = {"model": {"zdim": int(z.shape[1])}, "dataset": {"n_particles": int(n_particles or len(z))}}
    if particles is not None:
        cfg["dataset"].update(particles=str(particles), source_software="warp")
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    return folder


def test_analyze_cli_rejects_ksample_pc_and_a_z_file_of_another_run(tmp_path, capsys):
    from tomodrgn_core.cli import main as cli
    z, _ = two_blobs(n=12, zdim=2)
    run = fake_run(tmp_path / "run", z)
    base = ["analyze", str(run), "0", "--skip-vol", "--skip-umap"]
    zfile = str(run / "z.0.train.pkl")
    for extra, text in ((["--ksample", "20"], "--ksample 20: more clusters than 12 particles -> fix: --ksample 1..12"),
                        (["--ksample", "2", "--pc", "3"],
                         "--pc 3: no such principal component (zdim is 2) -> fix: --pc 1..2")):
        assert cli(base + extra) == 2
        err = capsys.readouterr().err
        assert err == f"tomodrgn analyze: error: {zfile}: {text}\n"  # one line: the file, the problem, the fix
        assert not (run / "analyze.0").exists()
    bad = fake_run(tmp_path / "other", z, n_particles=15)  # z written for a different particle set
    assert cli(["analyze", str(bad), "0", "--skip-vol", "--skip-umap", "--ksample", "2"]) == 2
    err = capsys.readouterr().err
    assert str(bad / "z.0.train.pkl") in err and "latent array is 12 x 2, expected 15 x 2" in err
    assert cli(base + ["--ksample", "2"]) == 0  # the same run with sensible values works
    assert (run / "analyze.0" / "kmeans2" / "labels.pkl").is_file() and (run / "analyze.0" / "pc2").is_dir()


def test_analyze_of_an_ind_run_selects_star_rows(tmp_path, capsys):
    """A run trained with --ind on 12 of 20 particles: z row i is STAR particle particle_rows[i]. particles.csv
    says so (star_row), and the notebook's selection, run as written, writes those STAR particles."""
    import os
    import pickle
    import subprocess
    import sys

    import pandas as pd

    from tomodrgn_core.cli import main as cli
    from tomodrgn_core.io import load_particles
    from tomodrgn_core.io import schema as S
    from tomodrgn_core.simulate import simulate_dataset

    sim = simulate_dataset(tmp_path / "sim", n_particles=20, box=8, n_classes=2, snr=None, seed=4, max_tilt=15)
    z, truth = two_blobs(n=12, zdim=2)
    rows = np.array([19, 2, 3, 5, 7, 8, 11, 12, 13, 15, 17, 1])  # the trained STAR's particle of each z row
    run = fake_run(tmp_path / "run", z, particles=sim["warp"])
    (run / "particle_rows.txt").write_text("".join(f"{r}\n" for r in rows))
    np.save(tmp_path / "truth.npy", truth)
    assert cli(["analyze", str(run), "0", "--skip-vol", "--skip-umap", "--ksample", "2", "--gmm",
                "--ground-truth", str(tmp_path / "truth.npy")]) == 0
    a = run / "analyze.0"
    table = pd.read_csv(a / "particles.csv")
    assert np.array_equal(table["index"], np.arange(12)) and np.array_equal(table["star_row"], rows)
    summary = json.loads((a / "summary.json").read_text())
    assert summary["trained_on_subset"] is True
    # where the ground_truth.json files are: in summary.json (relative) and on the last printed line (absolute)
    assert summary["ground_truth_json"] == {"kmeans": "kmeans2/ground_truth.json", "gmm": "gmm2/ground_truth.json"}
    last = capsys.readouterr().out.strip().splitlines()[-1]
    for k in ("kmeans2", "gmm2"):
        assert (a / k / "ground_truth.json").is_file() and str(a / k / "ground_truth.json") in last, last

    nb = json.loads((a / "tomoDRGN_viz+filt.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    code = code.replace("RUN_FILTER = False", "RUN_FILTER = True")
    done = subprocess.run([sys.executable, "-c", code], cwd=a, env={**os.environ, "MPLBACKEND": "Agg"},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    km = read_pickle(a / "kmeans2" / "labels.pkl")
    want = rows[km == 0]
    assert not np.array_equal(np.sort(want), np.flatnonzero(km == 0))  # z rows would pick other particles
    assert np.array_equal(pickle.load(open(a / "selected_ind.pkl", "rb")), want)
    ids = load_particles(sim["warp"]).table[S.PARTICLE_ID].unique()
    got = load_particles(a / "selected_particles.star").table[S.PARTICLE_ID].unique()
    assert sorted(got) == sorted(ids[want])

    # a particle_rows.txt that cannot belong to this z is one line naming it, before anything is written
    bad = fake_run(tmp_path / "bad", z)
    (bad / "particle_rows.txt").write_text("".join(f"{r}\n" for r in rows[:10]))
    assert cli(["analyze", str(bad), "0", "--skip-vol", "--skip-umap", "--ksample", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(bad / "particle_rows.txt") in err and "10 particle rows for 12 rows of z" in err
    assert not (bad / "analyze.0").exists()


def test_pc_traversal_cli_rejects_missing_pcs_and_draws_the_traversed_pc(tmp_path, capsys, monkeypatch):
    from tomodrgn_core.cli import main as cli
    rng = np.random.default_rng(1)
    zfile = tmp_path / "z.npy"
    np.save(zfile, (rng.normal(size=(40, 3)) * [3.0, 2.0, 1.0]).astype(np.float32))
    assert cli(["pc_traversal", str(zfile), "-o", str(tmp_path / "pc"), "--dim", "1", "4"]) == 2
    err = capsys.readouterr().err
    assert err == f"tomodrgn pc_traversal: error: {zfile}: --dim 4: no such principal component (zdim is 3) " \
                  f"-> fix: --dim 1..3\n"
    assert not (tmp_path / "pc").exists()  # checked before any pc folder is written
    seen = record_axis_labels(monkeypatch)
    assert cli(["pc_traversal", str(zfile), "-o", str(tmp_path / "pc"), "--dim", "3", "-n", "4"]) == 0
    ratio = run_pca(np.load(zfile)).explained_variance_ratio
    # PC3 is drawn against PC1 (on PC1/PC2 it would be one dot), both axes quoting their variance
    assert seen["pc3/z_pca_traversal.png"] == (f"PC1 ({100 * ratio[0]:.1f}%)", f"PC3 ({100 * ratio[2]:.1f}%)")
    assert_real_png(tmp_path / "pc" / "pc3" / "z_pca_traversal.png")
    assert np.loadtxt(tmp_path / "pc" / "pc3" / "z_values.txt").shape == (4, 3)


def test_nearest_points_matches_brute_force_and_save_skips_decoding(tmp_path):
    from tomodrgn_core.analysis.latent import nearest_points
    rng = np.random.default_rng(3)
    z, t = rng.normal(size=(200, 8)), rng.normal(size=(7, 8))
    brute = np.linalg.norm(t[:, None] - z[None], axis=-1).argmin(1)
    assert np.array_equal(nearest_points(z, t), brute)
    calls = []
    maker = stub_maker()
    counting = VolumeMaker(lambda zz: calls.append(len(zz)) or maker.fn(zz), maker.pixel_size)
    zs = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    vols = counting(zs)
    paths = counting.save(vols, tmp_path, "v_", start=5)
    assert sum(calls) == 10  # save wrote without running the decoder again
    assert [p.name for p in paths][:2] == ["v_005.mrc", "v_006.mrc"] and len(paths) == 10
    assert np.isclose(read_volume(paths[3])[0][8, 8, 8], 3.0)
    written = counting.write(zs[:9], tmp_path / "w")  # chunks of 8: numbering continues across chunks
    assert [p.name for p in written][-1] == "vol_008.mrc" and np.isclose(read_volume(written[8])[0][8, 8, 8], 8.0)


def test_convergence_needs_two_epochs(tmp_path):
    import pickle
    from tomodrgn_core.analysis.convergence_runs import convergence_vae
    z, _ = two_blobs()
    for e in (4, 9):
        pickle.dump(z, open(tmp_path / f"z.{e}.train.pkl", "wb"))
    with pytest.raises(TomoDrgnInputError, match=r"only 1 epoch\(s\) selected.*saved: 4, 9"):
        convergence_vae(tmp_path, tmp_path / "cv", interval=10, log=lambda m: None)
    assert not (tmp_path / "cv").exists()  # nothing written for a usage error
    s = convergence_vae(tmp_path, tmp_path / "cv", interval=5, n_vols=2, skip_umap=True, log=lambda m: None)
    assert s["epochs"] == [4, 9] and s["pairs"][0]["latent_shift"] < 1e-6  # identical embeddings
    assert s["pairs"][0]["neighbor_overlap"] == 1.0 and s["verdict"].startswith("CONVERGED")


def test_group_bridging_is_a_minimum_spanning_tree():
    """Starting from no edges at all (every particle its own group), the Boruvka joining must build the
    Euclidean minimum spanning tree: each bridge is the shortest possible, and it scales (log rounds)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
    from scipy.spatial.distance import cdist
    from sklearn.neighbors import NearestNeighbors
    from tomodrgn_core.analysis.trajectories import _connect_components

    z = np.random.default_rng(5).uniform(size=(300, 2))
    dist, ind = NearestNeighbors(n_neighbors=11).fit(z).kneighbors(z)
    g = _connect_components(csr_matrix((300, 300)), z, dist[:, 1:], ind[:, 1:])
    assert connected_components(g, directed=False)[0] == 1
    assert g.nnz == 2 * 299  # a tree, stored symmetrically
    assert np.isclose(g.sum() / 2, minimum_spanning_tree(cdist(z, z)).sum(), rtol=1e-9)


def test_sample_volumes_above_the_particle_count_say_so(tmp_path):
    """analyze_volumes --ksample / convergence --final-maxima only pick sample particles: asking for more than
    there are gives all of them, with a log line saying so (no silent clamp)."""
    import pickle
    from tomodrgn_core.analysis.convergence_runs import convergence_vae
    from tomodrgn_core.analysis.volume_space import volumes_for
    z, _ = two_blobs(n=6)
    logs = []
    vols, ind, labels = volumes_for(z, stub_maker(), tmp_path / "av", ksample=20, log=logs.append)
    assert logs == ["--ksample 20 >= 6 particles: one volume per particle (6 volumes)"]
    assert len(vols) == 6 and ind.tolist() == list(range(6)) and len(list((tmp_path / "av" / "vols").glob("*.mrc"))) == 6
    for e in (4, 9):
        pickle.dump(z, open(tmp_path / f"z.{e}.train.pkl", "wb"))
    logs.clear()
    convergence_vae(tmp_path, tmp_path / "cv", interval=5, n_vols=9, skip_umap=True, log=logs.append)
    assert "--final-maxima 9 > 6 particles: comparing all 6" in logs
