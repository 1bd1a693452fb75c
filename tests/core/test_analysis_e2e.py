"""Analysis commands end to end on one small simulated two-class train_vae run (trained once per module)."""
import json
import os
import pickle
import subprocess
import sys

import matplotlib.image as mpimg
import mrcfile
import numpy as np
import pytest

from tomodrgn_core.analysis.metrics import reference_weights
from tomodrgn_core.cli import main as cli
from tomodrgn_core.io import load_particles, read_volume, write_volume
from tomodrgn_core.simulate import simulate_dataset

@pytest.fixture(scope="module")
def run(two_class, vae_run):
    """(simulation, trained run folder): the session's shared two-class VAE (tests/core/conftest.py)."""
    return two_class, vae_run


def assert_real_png(path):
    img = mpimg.imread(path)
    assert img.shape[0] >= 200 and img.shape[1] >= 200 and img[..., :3].std() > 0.01, path


def assert_mrc(path, box, apix):
    with mrcfile.open(path, permissive=False) as m:  # strict: a valid MRC header
        assert m.data.shape == (box, box, box) and m.data.dtype == np.float32
        assert np.isclose(float(m.voxel_size.x), apix) and np.isclose(float(m.voxel_size.z), apix)
        assert int(m.header.mode) == 2 and np.isfinite(m.data).all() and m.data.std() > 0


def test_analyze_two_class_run(run):
    sim, out = run
    assert cli(["analyze", str(out), "14", "--ksample", "2", "--device", "cpu", "--n-per-pc", "3",
                "--ground-truth", str(sim["labels"])]) == 0
    a = out / "analyze.14"
    for name in ("z_pca.png", "z_pca_hexbin.png", "z_pca_explained_variance.png", "pca_explained_variance.csv",
                 "umap.pkl", "umap.png", "umap_hexbin.png", "loss.png", "particles.csv", "summary.json",
                 "kmeans2/labels.pkl", "kmeans2/centers.txt", "kmeans2/centers_ind.txt", "kmeans2/umap.png",
                 "kmeans2/z_pca.png", "kmeans2/cluster_sizes.png", "pc1/z_values.txt", "pc2/vol_002.mrc"):
        assert (a / name).is_file(), name
    labels = np.load(sim["labels"])
    km = pickle.load(open(a / "kmeans2" / "labels.pkl", "rb"))
    umap = pickle.load(open(a / "umap.pkl", "rb"))
    assert km.shape == labels.shape and umap.shape == (120, 2)
    gts = [read_volume(p)[0] for p in sim["volumes"]]
    own = []
    for k in range(2):
        assert_mrc(a / "kmeans2" / f"vol_{k:03d}.mrc", 32, 8.0)
        vol = read_volume(a / "kmeans2" / f"vol_{k:03d}.mrc")[0]
        w = reference_weights(vol, gts)  # classes share most density (CC 0.83): weigh, don't correlate
        own.append(int(np.bincount(labels[km == k]).argmax()))  # the class most of cluster k's particles are
        assert w[own[k]] > w[1 - own[k]], w
    assert sorted(own) == [0, 1]  # each k-means volume matches a different ground-truth class
    for png in ("z_pca.png", "umap.png", "kmeans2/umap.png", "loss.png", "z_pca_explained_variance.png"):
        assert_real_png(a / png)
    summary = json.loads((a / "summary.json").read_text())
    assert summary["zdim"] == 2 and summary["ari"]["kmeans"] >= 0.9  # the paper's validation, from the CLI
    assert_real_png(a / "kmeans2" / "confusion_matrix.png")
    # the notebook runs as written, from its folder, and its selection comes back as a STAR of those particles
    nb = json.loads((a / "tomoDRGN_viz+filt.ipynb").read_text())
    assert nb["nbformat"] == 4 and [c["cell_type"] for c in nb["cells"]].count("code") == 5
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "RUN_FILTER = False" in code
    code = code.replace("RUN_FILTER = False", "RUN_FILTER = True")
    done = subprocess.run([sys.executable, "-c", code], cwd=a, env={**os.environ, "MPLBACKEND": "Agg"},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "120 particles, zdim 2" in done.stdout
    chosen = pickle.load(open(a / "selected_ind.pkl", "rb"))
    assert np.array_equal(chosen, np.flatnonzero(km == 0))
    assert load_particles(a / "selected_particles.star").n_particles == len(chosen)


def test_traversals_write_valid_mrcs(run, tmp_path):
    _, out = run
    z = out / "z.14.train.pkl"
    assert cli(["pc_traversal", str(z), "-o", str(tmp_path / "pc"), "--dim", "1", "-n", "4", "--weights",
                str(out / "weights.14.pkl"), "--device", "cpu", "-d", "16"]) == 0
    vols = sorted((tmp_path / "pc" / "pc1").glob("vol_*.mrc"))
    assert len(vols) == 4
    for v in vols:
        assert_mrc(v, 16, 16.0)  # Fourier-cropped to half the box: twice the pixel size
    zs = np.loadtxt(tmp_path / "pc" / "pc1" / "z_values.txt")
    assert zs.shape == (4, 2)
    assert_real_png(tmp_path / "pc" / "pc1" / "z_pca_traversal.png")
    ind = np.loadtxt(out / "analyze.14" / "kmeans2" / "centers_ind.txt", dtype=int) if \
        (out / "analyze.14").exists() else np.array([0, 1])
    assert cli(["graph_traversal", str(z), "--anchors", *map(str, ind), "-o", str(tmp_path / "g"), "--weights",
                str(out / "weights.14.pkl"), "--device", "cpu"]) == 0
    path = np.loadtxt(tmp_path / "g" / "path_ind.txt", dtype=int, ndmin=1)
    assert path[0] == ind[0] and path[-1] == ind[-1]
    vols = sorted((tmp_path / "g").glob("vol_*.mrc"))
    assert len(vols) == len(path)
    assert_mrc(vols[0], 32, 8.0)


def test_analyze_volumes_and_convergence(run, tmp_path):
    _, out = run
    assert cli(["analyze_volumes", str(out), "-1", "--ksample", "5", "--skip-umap", "--device", "cpu",
                "-o", str(tmp_path / "av")]) == 0
    av = tmp_path / "av"
    pcs = np.load(av / "voxel_pca.npy")
    assert pcs.shape[0] == 5 and len(list((av / "vols").glob("vol_*.mrc"))) == 5
    assert json.loads((av / "summary.json").read_text())["explained_variance_ratio"][0] > 0.5  # two classes
    assert_mrc(av / "mask.mrc", 32, 8.0)
    assert_real_png(av / "voxel_pca.png")

    assert cli(["convergence_vae", str(out), "--epoch-interval", "5", "--final-maxima", "2", "--skip-umap",
                "--device", "cpu", "-o", str(tmp_path / "cv")]) == 0
    cv = tmp_path / "cv"
    s = json.loads((cv / "convergence.json").read_text())
    assert s["epochs"] == [4, 9, 14] and len(s["pairs"]) == 2
    assert all(-1 <= p["vol_cc_mean"] <= 1 and p["latent_shift"] >= 0 for p in s["pairs"])
    assert (cv / "verdict.txt").read_text().split(":")[0] in ("CONVERGED", "NOT CONVERGED")
    for png in ("latent_shifts.png", "volume_cc.png", "pca_epochs.png", "loss.png"):
        assert_real_png(cv / png)


def test_convergence_nn_compares_successive_reconstructions(tmp_path, capsys):
    sim = simulate_dataset(tmp_path / "sim", n_particles=30, box=16, n_classes=1, snr=1.0, seed=1, max_tilt=30)
    out = tmp_path / "nn"  # a tiny train_nn run of its own: only the saved epochs matter here
    assert cli(["train_nn", str(sim["warp"]), "-o", str(out), "-n", "3", "--dim", "32", "--layers", "2", "-b", "10",
                "--checkpoint", "1", "--device", "cpu"]) == 0
    gt = sim["volumes"][0]
    apix = read_volume(gt)[1]
    assert cli(["convergence_nn", str(out), "--ref-vol", str(gt), "-o", str(tmp_path / "cn")]) == 0
    s = json.loads((tmp_path / "cn" / "convergence.json").read_text())
    assert s["epochs"] == [0, 1, 2] and len(s["pairs"]) == 2
    assert all(p["fsc_0.5_A"] >= 2 * apix - 1e-6 and p["cc"] > 0 and "ref_cc" in p for p in s["pairs"])
    assert_real_png(tmp_path / "cn" / "fsc_epochs.png")
    assert_real_png(tmp_path / "cn" / "resolution_epochs.png")
    # the agreement with the reference is reported beside the verdict and plotted, epoch 0 included
    assert f"Against the reference map: CC {s['pairs'][-1]['ref_cc']:.3f}" in s["verdict"]
    assert_real_png(tmp_path / "cn" / "reference_cc_epochs.png")
    # clear one-line errors: a homogeneous run has no latent space; a reference of another box
    assert cli(["analyze", str(out), "-1", "--skip-vol"]) == 2
    assert "train_nn (homogeneous) run" in capsys.readouterr().err
    write_volume(tmp_path / "small.mrc", np.zeros((8, 8, 8), np.float32), 2 * apix)
    assert cli(["convergence_nn", str(out), "--ref-vol", str(tmp_path / "small.mrc"), "-o", str(tmp_path / "c2")]) == 2
    assert "reference map has box" in capsys.readouterr().err
