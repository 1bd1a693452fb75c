"""Automatic number of classes (analyze --ksample auto): right k on separated clouds, k = 1 on one population,
end to end on the shared trained two-class run, one-line errors."""
import json
import pickle

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from tomodrgn_core.analysis.kselect import select_k
from tomodrgn_core.analysis.metrics import adjusted_rand_index
from tomodrgn_core.cli import main as cli
from tomodrgn_core.simulate import simulate_dataset

from conftest import FAST_VAE


def separated_clouds(k, n=600, zdim=8, sep=8.0, seed=0):
    """Latent means of k simulated classes: unequal class sizes, anisotropic clouds (sd 0.5-1.5 per axis), every
    pair of centres at least ``sep`` apart (>= 5 sd of the widest cloud: well separated)."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(k, size=n, p=rng.dirichlet(np.full(k, 5.0)))
    while True:
        centres = rng.normal(scale=sep, size=(k, zdim))
        gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1) + np.eye(k) * 1e9
        if gaps.min() > sep:
            break
    scales = rng.uniform(0.5, 1.5, size=(k, zdim))
    return (centres[labels] + rng.normal(size=(n, zdim)) * scales[labels]).astype(np.float32), labels


@pytest.mark.parametrize("k", [2, 3, 5])
def test_auto_k_finds_separated_classes(k):
    for seed in (0, 1):
        z, _ = separated_clouds(k, seed=seed)
        sel = select_k(z)
        assert sel.k == k, sel.reason
        assert sel.structure == "strong" and set(sel.votes.values()) == {k}


def test_auto_k_says_one_population_has_no_structure():
    rng = np.random.default_rng(0)
    for z in (rng.normal(size=(600, 8)), rng.normal(size=(600, 2)) * [3.0, 1.0], rng.normal(size=(400, 1))):
        sel = select_k(z)
        assert sel.k == 1 and sel.structure == "none", sel.reason
        assert sel.reason.startswith("no cluster structure found")


def test_classes_closer_than_the_posterior_uncertainty_are_not_classes():
    """A one-class VAE latent: a skewed cloud that k-means cuts in two with a fair silhouette, its means packed
    within the encoder's own uncertainty. Without the posterior it looks like two classes; with it, k = 1."""
    rng = np.random.default_rng(0)
    z = np.c_[0.05 * rng.lognormal(0.0, 0.8, 400), 0.02 * rng.normal(size=400)]
    logvar = np.full_like(z, 2 * np.log(0.4))  # posterior sd 0.4, as the collapsed one-class run
    assert select_k(z).k >= 2  # the scores alone are fooled
    sel = select_k(z, logvar=logvar)
    assert sel.k == 1 and sel.reason.startswith("no cluster structure resolved"), sel.reason
    # separated classes stay separated when the encoder is certain of them ...
    clouds, _ = separated_clouds(3, zdim=4)
    sel = select_k(clouds, logvar=np.full_like(clouds, 2 * np.log(0.2)))
    assert sel.k == 3 and sel.table["centre_gap_posterior_sd"].iloc[2] > 10
    # ... and two tight clusters 1.5 posterior sd apart merge, a third far away stays: k = 2, not 3
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 3.0]])
    z3 = centres[np.repeat([0, 1, 2], 100)] + 0.05 * rng.normal(size=(300, 2))
    assert select_k(z3).k == 3
    sel = select_k(z3, logvar=np.full_like(z3, 2 * np.log(2.0)))
    assert sel.k == 2 and "k = 2 is the best-silhouette k below it that is resolved" in sel.reason, sel.reason


@pytest.fixture(scope="module")
def one_class_run(tmp_path_factory):
    """A VAE trained on a one-class simulated set (100 particles, 10 epochs: ~40 s on one core)."""
    d = tmp_path_factory.mktemp("one_class")
    sim = simulate_dataset(d, n_particles=100, box=32, n_classes=1, snr=0.5, seed=0, max_tilt=45)
    assert cli(["train_vae", str(sim["warp"]), "-o", str(d / "run"), "-n", "10", "--checkpoint", "5"] + FAST_VAE) == 0
    return d / "run"


def test_analyze_auto_k_on_a_trained_one_class_run_finds_no_classes(one_class_run, tmp_path, capsys):
    out = tmp_path / "a"
    assert cli(["analyze", str(one_class_run), "-1", "--ksample", "auto", "-o", str(out), "--skip-umap",
                "--skip-vol"]) == 0
    assert "no cluster structure" in capsys.readouterr().out
    choice = json.loads((out / "k_selection.json").read_text())
    assert choice["k"] == 1 and choice["structure"] == "none"
    assert pickle.load(open(out / "kmeans1" / "labels.pkl", "rb")).tolist() == [0] * 100


def test_analyze_auto_k_on_the_trained_two_class_run(two_class, vae_run, tmp_path, capsys):
    out = tmp_path / "a"
    assert cli(["analyze", str(vae_run), "14", "--ksample", "auto", "-o", str(out), "--skip-umap", "--device", "cpu",
                "--n-per-pc", "2", "--ground-truth", str(two_class["labels"])]) == 0
    assert "2 clusters (automatic: k = 2" in capsys.readouterr().out
    table = pd.read_csv(out / "k_selection.csv")
    assert table["k"].tolist() == list(range(1, 13))
    assert table.loc[table["k"] == 2, "silhouette"].item() == table["silhouette"].max()
    assert table.loc[table["k"] == 2, "centre_gap_posterior_sd"].item() > 10  # resolved: the run's own logvar
    choice = json.loads((out / "k_selection.json").read_text())
    assert choice["k"] == 2 and choice["votes"] == {"silhouette": 2, "davies_bouldin": 2, "bic": 2}
    img = mpimg.imread(out / "k_selection.png")
    assert img.shape[1] >= 800 and img[..., :3].std() > 0.01
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ksample"] == 2 and summary["k_selection"]["k"] == 2
    labels = pickle.load(open(out / "kmeans2" / "labels.pkl", "rb"))  # the usual kmeans{K}/ of the chosen K
    assert adjusted_rand_index(np.load(two_class["labels"]), labels) >= 0.9
    assert (out / "kmeans2" / "vol_001.mrc").is_file()
    assert "kmeans2" in (out / "tomoDRGN_viz+filt.ipynb").read_text()


def test_k_range_and_ksample_errors_are_one_line(vae_run, tmp_path, capsys):
    cases = [(["--ksample", "auto", "--k-range", "5", "3"], "--k-range 5 3: give the smallest and largest k"),
             (["--ksample", "auto", "--k-range", "2", "500"], "at most 119 clusters for 120 particles"),
             (["--ksample", "4", "--k-range", "2", "6"], "--k-range is for --ksample auto")]
    for extra, expected in cases:
        assert cli(["analyze", str(vae_run), "14", "-o", str(tmp_path / "x"), "--skip-vol"] + extra) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and "\n" not in err, err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit):
        cli(["analyze", str(vae_run), "14", "--ksample", "many"])
    assert "'many' is neither a number of clusters nor 'auto'" in capsys.readouterr().err
