"""compare_runs: two seeds on the simulated two-class set agree (ARI, matched classes, FSC of class volumes); a run
whose latent rows no longer belong to their particles does not; labels are matched by the Hungarian algorithm."""
import json
import pickle
import shutil

import matplotlib.image as mpimg
import numpy as np
import pandas as pd

from tomodrgn_core.analysis.compare import match_labels
from tomodrgn_core.cli import main as cli
from tomodrgn_core.io import read_volume


def test_hungarian_matching_undoes_a_relabelling():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, size=400)
    b = np.array([2, 0, 3, 1])[a]  # the same classes under other numbers ...
    flip = rng.random(400) < 0.1
    b[flip] = rng.integers(0, 4, size=flip.sum())  # ... with 10% of the particles reassigned at random
    m = match_labels(a, b)
    assert [(x, y) for x, y, _ in m.pairs] == [(0, 2), (1, 0), (2, 3), (3, 1)]
    assert np.isclose(m.agreement, np.mean(m.b_in_a(b) == a))
    assert 0.85 < m.agreement < 0.95 and m.confusion.sum() == 400
    three = match_labels(a, np.where(b == 3, 1, b))  # B merged two classes: one A class stays unmatched
    assert len(three.pairs) == 3 and -1 not in three.b_in_a(np.where(b == 3, 1, b))


def test_two_seeds_agree_with_matched_class_fscs(vae_run, vae_run_seed1, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert cli(["compare_runs", str(vae_run), "14", str(vae_run_seed1), "-1", "-o", str(out), "--device", "cpu"]) == 0
    assert "ARI" in capsys.readouterr().out
    s = json.loads((out / "summary.json").read_text())
    assert s["k_a"] == s["k_b"] == 2 and s["n_particles"] == 120 and s["epoch_b"] == 14
    assert s["ari"] > 0.8 and s["agreement"] > 0.9, (s["ari"], s["agreement"])
    cm = np.array(s["confusion"])
    assert cm.shape == (2, 2) and cm.sum() == 120
    assert np.isclose(s["agreement"], sum(cm[p["class_a"], p["class_b"]] for p in s["matches"]) / 120)
    assert len(s["fsc"]) == 2 and len(s["fsc_frequency_per_A"]) == 16
    for f in s["fsc"]:
        curve = np.array(f["curve"])
        assert curve[1] > 0.9  # the matched classes' volumes agree at low resolution ...
        assert 16.0 < f["resolution_A"]["0.5"] < 100.0  # ... down to a finite resolution (Nyquist 16 A)
        assert f["resolution_A"]["0.143"] <= f["resolution_A"]["0.5"]
        va = read_volume(out / "vols_a" / f"vol_{f['class_a']:03d}.mrc")[0]
        vb = read_volume(out / "vols_b" / f"vol_{f['class_a']:03d}.mrc")[0]
        assert va.shape == vb.shape == (32, 32, 32)
    table = pd.read_csv(out / "particles.csv")
    assert np.mean(table["label_a"] == table["label_b_matched"]) == s["agreement"]
    for png in ("confusion.png", "fsc.png", "k_selection_a/k_selection.png"):
        img = mpimg.imread(out / png)
        assert img.shape[0] >= 250 and img[..., :3].std() > 0.01, png


def test_a_run_on_shuffled_particles_does_not_agree(vae_run, tmp_path):
    """Run B is run A with its latent rows permuted: each particle gets another particle's z, as if the images
    had been shuffled against their poses. The classes no longer agree."""
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    for name in ("config.yaml", "weights.14.pkl"):
        shutil.copy(vae_run / name, shuffled / name)
    z = pickle.load(open(vae_run / "z.14.train.pkl", "rb"))
    with open(shuffled / "z.14.train.pkl", "wb") as f:
        pickle.dump(z[np.random.default_rng(0).permutation(len(z))], f)
    out = tmp_path / "cmp"
    assert cli(["compare_runs", str(vae_run), "14", str(shuffled), "14", "-o", str(out), "--skip-vol",
                "--ksample", "2"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert abs(s["ari"]) < 0.05 and 0.4 < s["agreement"] < 0.65, (s["ari"], s["agreement"])
    assert s["fsc"] == []


def test_compare_runs_errors_are_one_line(vae_run, tmp_path, capsys):
    nn = tmp_path / "nn"
    nn.mkdir()
    (nn / "config.yaml").write_text("model:\n  zdim: 0\n  box: 32\n")
    assert cli(["compare_runs", str(vae_run), "14", str(nn), "0", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "train_nn (homogeneous) run: it has no latent space" in err and "\n" not in err
    assert cli(["compare_runs", str(vae_run), "14", str(vae_run), "7", "-o", str(tmp_path / "o")]) == 2
    assert "epoch 7 was not saved (saved: 4, 9, 14)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
