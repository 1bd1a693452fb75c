"""validate_selection on the shared two-class run: each class's back-projection matches its own decoder map better
than the other class's, a random selection does not; half maps, FSCs and one-line errors."""
import json
import pickle

import matplotlib.image as mpimg
import mrcfile
import numpy as np
import pytest

from tomodrgn_core.analysis.latent import cluster_kmeans
from tomodrgn_core.analysis.metrics import map_cc
from tomodrgn_core.cli import main as cli


@pytest.fixture(scope="module")
def labels(vae_run, tmp_path_factory):
    """The run's two k-means classes (as analyze writes them), in a labels.pkl."""
    z = pickle.load(open(vae_run / "z.14.train.pkl", "rb"))
    path = tmp_path_factory.mktemp("labels") / "labels.pkl"
    with open(path, "wb") as f:
        pickle.dump(cluster_kmeans(z, 2, seed=0).labels, f)
    return path


def validate(vae_run, out, *selection):
    assert cli(["validate_selection", str(vae_run), "14", *selection, "-o", str(out), "--device", "cpu"]) == 0
    return json.loads((out / "summary.json").read_text())


def test_classes_match_their_own_decoder_map_and_a_random_selection_does_not(vae_run, labels, tmp_path):
    s0 = validate(vae_run, tmp_path / "c0", "--labels", str(labels), "--labels-sel", "0")
    s1 = validate(vae_run, tmp_path / "c1", "--labels", str(labels), "--labels-sel", "1", "--no-random-control")
    for s in (s0, s1):  # the back-projection of a class: closer to its own decoder map than to the other class's
        assert s["n_selected"] + s["n_rest"] == 120
        assert s["cc_vs_decoder"] > s["cc_vs_rest"] + 0.01, s["statement"]
        assert min(s["cc_margin_halves"]) > 0.01  # in each half set too
    # the same comparison made by hand from the written maps: class 0's map vs class 1's decoder map is the rest's
    bp0 = mrcfile.read(tmp_path / "c0" / "backprojection.mrc")
    dec1 = mrcfile.read(tmp_path / "c1" / "decoder_selection.mrc")
    assert np.isclose(map_cc(bp0, mrcfile.read(tmp_path / "c0" / "decoder_selection.mrc")), s0["cc_vs_decoder"],
                      atol=0.01)
    assert map_cc(bp0, dec1) < map_cc(bp0, mrcfile.read(tmp_path / "c0" / "decoder_selection.mrc"))

    rnd = np.sort(np.random.default_rng(1).choice(120, size=s0["n_selected"], replace=False))
    np.savetxt(tmp_path / "random.txt", rnd, fmt="%d")
    sr = validate(vae_run, tmp_path / "random", "--ind", str(tmp_path / "random.txt"), "--no-random-control")
    margin = min(s0["cc_margin"], s1["cc_margin"])
    assert abs(sr["cc_margin"]) < 0.2 * margin, (sr["cc_margin"], margin)  # random: both decoder maps alike
    assert abs(s0["random_control"]["cc_margin"]) < 0.2 * margin  # the built-in control says the same

    half = s0["fsc_half"]
    assert half["curve"][1] > 0.9 and 16.0 < half["resolution_A"]["0.143"] < 60.0
    assert s0["resolutions"]["vs_decoder_0.5_A"] == s0["fsc_vs_decoder"]["resolution_A"]["0.5"]
    for name in ("backprojection_half1", "backprojection_half2", "rest_backprojection", "decoder_rest"):
        with mrcfile.open(tmp_path / "c0" / f"{name}.mrc", permissive=False) as m:
            assert m.data.shape == (32, 32, 32) and np.isclose(float(m.voxel_size.x), 8.0) and m.data.std() > 0
    h1, h2 = (mrcfile.read(tmp_path / "c0" / f"backprojection_half{i}.mrc") for i in (1, 2))
    assert 0.5 < map_cc(h1, h2) < 0.9999  # two independent halves of the same class
    img = mpimg.imread(tmp_path / "c0" / "fsc.png")
    assert img.shape[0] >= 300 and img[..., :3].std() > 0.01


def test_validate_selection_errors_are_one_line(vae_run, labels, tmp_path, capsys):
    np.savetxt(tmp_path / "all.txt", np.arange(120), fmt="%d")
    cases = [(["--ind", str(tmp_path / "all.txt")], "the selection holds 120 of 120 particles"),
             (["--labels", str(labels), "--labels-sel", "5"], "label 5 does not occur"),
             (["--ind", str(tmp_path / "all.txt"), "--labels-sel", "1"], "--labels-sel needs --labels")]
    for extra, expected in cases:
        assert cli(["validate_selection", str(vae_run), "14", *extra, "-o", str(tmp_path / "v")]) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and "\n" not in err, err
    assert not (tmp_path / "v").exists()
