"""Training end to end on small simulated data (CPU): reconstruction, class separation, resume, errors."""
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from tomodrgn_core.analysis.metrics import adjusted_rand_index, map_cc, masked_fsc, reference_weights, resolution_at
from tomodrgn_core import physics as P
from tomodrgn_core.cli import main as cli
from tomodrgn_core.io import load_particles, read_volume
from tomodrgn_core.reconstruct import backproject
from tomodrgn_core.simulate import simulate_dataset

from conftest import FAST_VAE
from _data import RELION5, RELION5_OPT  # noqa: F401  (tests/data)


@pytest.fixture(scope="module")
def one_class(tmp_path_factory):
    d = tmp_path_factory.mktemp("one_class")
    return simulate_dataset(d, n_particles=100, box=32, n_classes=1, snr=0.3, seed=1, max_tilt=45)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Box 16, 24 particles: for behaviour that does not need a good model (resume, errors)."""
    d = tmp_path_factory.mktemp("tiny")
    return simulate_dataset(d, n_particles=24, box=16, n_classes=2, snr=0.5, seed=3, max_tilt=24)


TINY_VAE = ["--zdim", "2", "--enc-dim-A", "16", "--enc-layers-A", "2", "--out-dim-A", "8", "--enc-dim-B", "16",
            "--enc-layers-B", "2", "--dec-dim", "32", "--dec-layers", "2", "-b", "8", "--l-dose-mask",
            "--recon-dose-weight", "--recon-tilt-weight", "--sample-ntilts", "6", "--device", "cpu"]


def kmeans2(z):
    from sklearn.cluster import KMeans
    return KMeans(2, n_init=10, random_state=0).fit(z)


def test_train_nn_reconstructs_ground_truth_and_beats_backprojection(one_class, tmp_path):
    out = tmp_path / "nn"
    args = ["train_nn", str(one_class["warp"]), "-o", str(out), "-n", "16", "--dim", "128", "--layers", "3", "-b", "2",
            "--l-dose-mask", "--recon-dose-weight", "--recon-tilt-weight", "--lr", "2.12e-3", "--sample-ntilts", "10",
            "--checkpoint", "8", "--device", "cpu"]
    assert cli(args) == 0
    for name in ("config.yaml", "run.log", "losses.csv", "weights.7.pkl", "weights.15.pkl", "reconstruct.7.mrc",
                 "reconstruct.15.mrc", "reconstruct.mrc"):
        assert (out / name).is_file(), name
    vol, apix = read_volume(out / "reconstruct.mrc")
    gt, _ = read_volume(one_class["volumes"][0])
    assert np.isclose(apix, one_class["dataset"].pixel_size)
    assert map_cc(vol, gt) > 0.9
    # the baseline: our backproject_voxel (CTF-corrected, Wiener-regularised) from the same particles. The decoder
    # must reach a finer resolution against the truth (paper's soft mask) at both FSC thresholds.
    ps = load_particles(one_class["warp"])
    images = ps.images(np.arange(len(ps.table)))
    bp = backproject(images, ps.table)
    for threshold in (0.5, 0.143):
        res_nn = resolution_at(*masked_fsc(vol, gt), threshold)
        res_bp = resolution_at(*masked_fsc(bp, gt), threshold)
        assert res_nn < res_bp - 0.05, (threshold, res_nn, res_bp)
    # the reference tomoDRGN's plain (CTF-multiplied) back-projection is far from the truth in real space
    plain = backproject(images, ps.table, mode="plain")
    assert map_cc(vol, gt) > map_cc(plain, gt) + 0.2
    losses = np.loadtxt(out / "losses.csv", delimiter=",", skiprows=1)
    assert losses.shape == (16, 6) and losses[-1, 1] < losses[0, 1]
    cfg = yaml.safe_load(open(out / "config.yaml"))
    assert cfg["args"]["lr"] == 2.12e-3 and cfg["model"]["zdim"] == 0 and cfg["dataset"]["box"] == 32
    assert cfg["training"]["lr_schedule"] == "cosine"  # train_nn's default


def test_train_nn_on_premultiplied_warptools_particles_matches_warptools_map(tmp_path):
    # WarpTools' 2D stacks are CTF-premultiplied. Trained on them as CTF^2 x volume, the decoder hardly saw the
    # low resolution (CC 0.18 with these settings); divided back by the CTF, they train like plain images
    from pathlib import Path
    fix = RELION5
    opt = fix / "warptools_test_4-tomos_10-ptcls_box-32_angpix-12_optimisation_set.star"
    ref = read_volume(fix / "warptools_test_box-32_angpix-12_reconstruct.mrc")[0]
    assert cli(["train_nn", str(opt), "-o", str(tmp_path / "nn"), "-n", "20", "-b", "1", "--lr", "1e-3",
                "--dim", "128", "--sample-ntilts", "20", "--l-dose-mask", "--recon-dose-weight", "--recon-tilt-weight",
                "--device", "cpu", "--checkpoint", "20"]) == 0
    vol = read_volume(tmp_path / "nn" / "reconstruct.mrc")[0]
    cc = float(np.corrcoef(vol.ravel(), ref.ravel())[0, 1])
    print(f"train_nn on the WarpTools fixture: map CC {cc:.3f} vs WarpTools' reconstruction")
    assert cc > 0.7  # measured 0.81 (Wiener back-projection of the same particles: 0.71)


def test_train_vae_separates_two_classes_and_eval_vol(vae_run, two_class, tmp_path):
    with open(vae_run / "z.14.train.pkl", "rb") as f:
        z = pickle.load(f)
    labels = np.load(two_class["labels"])
    assert z.shape == (120, 2) and z.dtype == np.float32
    km = kmeans2(z)
    assert adjusted_rand_index(labels, km.labels_) >= 0.9
    npz = np.load(vae_run / "z.14.train.npz")
    assert np.array_equal(npz["mu"], z) and npz["logvar"].shape == z.shape
    cfg = yaml.safe_load(open(vae_run / "config.yaml"))
    assert cfg["model"]["zdim"] == 2 and cfg["dataset"]["n_particles"] == 120
    np.savetxt(tmp_path / "centers.txt", km.cluster_centers_)
    assert cli(["eval_vol", "--weights", str(vae_run / "weights.14.pkl"), "--config", str(vae_run / "config.yaml"),
                "-o", str(tmp_path / "vols"), "--zfile", str(tmp_path / "centers.txt")]) == 0
    gts = [read_volume(p)[0] for p in two_class["volumes"]]
    for k in range(2):
        vol, apix = read_volume(tmp_path / "vols" / f"vol_{k:03d}.mrc")
        own = int(np.bincount(labels[km.labels_ == k]).argmax())
        w = reference_weights(vol, gts)  # the classes share most density: weigh, don't just correlate
        assert w[own] > w[1 - own], w
        assert np.isclose(apix, two_class["dataset"].pixel_size)


def test_eval_images_is_deterministic_and_matches_training_z(vae_run, two_class, tmp_path):
    out = tmp_path / "z.pkl"
    for _ in range(2):
        assert cli(["eval_images", str(two_class["warp"]), "--weights", str(vae_run / "weights.14.pkl"),
                    "--out-z", str(out)]) == 0
        z = pickle.load(open(out, "rb"))
        assert np.allclose(z, pickle.load(open(vae_run / "z.14.train.pkl", "rb")), atol=1e-5)


def _weights(path):
    return torch.load(path, weights_only=False)["model_state_dict"]


def test_resume_equals_uninterrupted_run(tiny, tmp_path):
    # a linear KLD warm-up too: the schedule must continue where the killed run stopped
    base = ["train_vae", str(tiny["warp"]), "--checkpoint", "1", "--beta-schedule", "linear",
            "--beta-schedule-epochs", "2"] + TINY_VAE
    assert cli(base + ["-o", str(tmp_path / "full"), "-n", "3"]) == 0
    assert cli(base + ["-o", str(tmp_path / "part"), "-n", "1"]) == 0  # "killed" after epoch 0
    assert cli(base + ["-o", str(tmp_path / "part"), "-n", "3", "--load", "latest"]) == 0
    a, b = _weights(tmp_path / "full" / "weights.2.pkl"), _weights(tmp_path / "part" / "weights.2.pkl")
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k
    assert np.allclose(pickle.load(open(tmp_path / "full" / "z.2.train.pkl", "rb")),
                       pickle.load(open(tmp_path / "part" / "z.2.train.pkl", "rb")), atol=1e-4)
    full = np.loadtxt(tmp_path / "full" / "losses.csv", delimiter=",", skiprows=1)
    part = np.loadtxt(tmp_path / "part" / "losses.csv", delimiter=",", skiprows=1)
    assert part.shape == (3, 6) and np.allclose(full[:, 1:4], part[:, 1:4], rtol=1e-4)
    # optimizer state travels too (AdamW moments), so the step after resuming is the uninterrupted one
    opt = torch.load(tmp_path / "part" / "weights.0.pkl", weights_only=False)["optimizer_state_dict"]
    assert opt["state"] and all("exp_avg" in v for v in opt["state"].values())
    # a finished run is not overwritten by accident, unless --force
    assert cli(base + ["-o", str(tmp_path / "full"), "-n", "3"]) == 2
    assert cli(base + ["-o", str(tmp_path / "full"), "-n", "1", "--force"]) == 0


def test_cosine_lr_schedule_resumes_exactly(tiny, tmp_path):
    from tomodrgn_core.train._beta import lr_at
    assert lr_at(1.0, "cosine", 10, 0.0) == 1.0 and np.isclose(lr_at(1.0, "cosine", 10, 10.0), 0.01)
    assert np.isclose(lr_at(1.0, "cosine", 10, 5.0), 0.505) and lr_at(1.0, "constant", 10, 7.0) == 1.0
    base = ["train_vae", str(tiny["warp"]), "--checkpoint", "1", "--lr-schedule", "cosine", "-n", "3"] + TINY_VAE
    assert cli(base + ["-o", str(tmp_path / "full")]) == 0
    # a run killed after epoch 0 of the same 3-epoch schedule: only its first checkpoint survives
    (tmp_path / "part").mkdir()
    ckpt = tmp_path / "part" / "weights.0.pkl"
    ckpt.write_bytes((tmp_path / "full" / "weights.0.pkl").read_bytes())
    assert cli(base + ["-o", str(tmp_path / "part"), "--load", str(ckpt)]) == 0
    a, b = _weights(tmp_path / "full" / "weights.2.pkl"), _weights(tmp_path / "part" / "weights.2.pkl")
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k
    opt = torch.load(tmp_path / "full" / "weights.2.pkl", weights_only=False)["optimizer_state_dict"]
    lr = yaml.safe_load((tmp_path / "full" / "config.yaml").read_text())["training"]["lr_used"]  # --lr x sqrt(-b)
    assert opt["param_groups"][0]["lr"] < 0.2 * lr  # decayed by the last step


def test_bad_load_and_mismatch_give_one_line_errors(tiny, vae_run, two_class, tmp_path, capsys):
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a checkpoint")
    assert cli(["train_vae", str(tiny["warp"]), "-n", "1", "-o", str(tmp_path / "a"), "--load", str(junk)]
               + TINY_VAE) == 2
    err = capsys.readouterr().err.strip()
    assert "junk.pkl" in err and "fix:" in err and len(err.splitlines()) == 1
    assert cli(["train_vae", str(tiny["warp"]), "-n", "1", "-o", str(tmp_path / "b"), "--load",
                str(tmp_path / "missing.pkl")] + TINY_VAE) == 2
    assert "missing.pkl" in capsys.readouterr().err
    ckpt = str(vae_run / "weights.14.pkl")  # box 32, zdim 2
    other = [a if a != "2" else "3" for a in FAST_VAE]  # same data, zdim 3
    assert cli(["train_vae", str(two_class["warp"]), "-n", "1", "-o", str(tmp_path / "c"), "--load", ckpt] + other) == 2
    err = capsys.readouterr().err.strip()
    assert "zdim" in err and "weights.14.pkl" in err and len(err.splitlines()) == 1
    (tmp_path / "d").mkdir()  # an existing folder is kept after the error: it must not get a cache made for nothing
    assert cli(["train_vae", str(tiny["warp"]), "-n", "1", "-o", str(tmp_path / "d"), "--load", ckpt] + TINY_VAE) == 2
    assert "box 32" in capsys.readouterr().err and not list((tmp_path / "d").iterdir())
    assert not list((tmp_path / "c").glob("weights.*.pkl")) and not list((tmp_path / "d").glob("weights.*.pkl"))
    # a checkpoint of the pre-release decoder (no feature record) would give wrong volumes: refused, not used
    old = torch.load(ckpt, weights_only=False)
    del old["config"]["model"]["decoder_features"]
    torch.save(old, tmp_path / "weights.3.pkl")
    assert cli(["eval_vol", "--weights", str(tmp_path / "weights.3.pkl"), "-o", str(tmp_path / "v"), "-z", "0", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "pre-release" in err and "weights.3.pkl" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "v").exists()


def test_bad_selection_and_output_paths_give_one_line_errors(tiny, vae_run, tmp_path, capsys):
    text = tmp_path / "ind.txt"
    text.write_text("0\n1\n99\n")
    junk = tmp_path / "ind.pkl"
    junk.write_bytes(b"garbage")
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros(0, dtype=np.int64))
    afile = tmp_path / "a_file"
    afile.write_text("user data")
    cases = [(["--ind", str(text)], "row 3"), (["--ind", str(junk)], "ind.pkl"),
             (["--ind", str(tmp_path / "none.pkl")], "none.pkl"), (["--ind", str(empty)], "empty"),
             (["-o", str(afile)], "a_file"), (["-n", "0"], "-n 0")]
    for extra, expected in cases:
        out = ["-o", str(tmp_path / "run")] if extra[0] != "-o" else []
        assert cli(["train_nn", str(tiny["warp"]), "-n", "1", "--dim", "8", "--layers", "1"] + out + extra) == 2, extra
        err = capsys.readouterr().err.strip()
        assert expected in err and "fix:" in err and len(err.splitlines()) == 1, err
    assert afile.read_text() == "user data"
    assert cli(["eval_vol", "--weights", str(vae_run / "weights.14.pkl"), "-o", str(afile), "-z", "0", "0"]) == 2
    assert "a_file" in capsys.readouterr().err and afile.read_text() == "user data"


def test_failed_run_leaves_no_new_folder_and_keeps_existing_ones(tiny, tmp_path, capsys):
    bad = tmp_path / "ind.txt"
    bad.write_text("0\n99\n")
    base = ["train_nn", str(tiny["warp"]), "-n", "1", "--dim", "8", "--layers", "1", "--ind", str(bad)]
    assert cli(base + ["-o", str(tmp_path / "new" / "run")]) == 2
    assert "row 2" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # the whole chain this run created is gone
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("user data")
    assert cli(base + ["-o", str(kept / "run")]) == 2
    capsys.readouterr()
    assert (kept / "notes.txt").read_text() == "user data" and not (kept / "run").exists()
    # a run that works keeps its folder
    assert cli(base[:-2] + ["-o", str(tmp_path / "new" / "run")]) == 0
    assert (tmp_path / "new" / "run" / "weights.0.pkl").exists()


def test_ind_run_records_which_star_particle_each_z_row_is(tiny, tmp_path):
    ind = tmp_path / "ind.txt"
    ind.write_text("5\n1\n3\n")
    base = ["train_nn", str(tiny["warp"]), "-n", "1", "--dim", "8", "--layers", "1", "-o", str(tmp_path / "run")]
    assert cli(base + ["--ind", str(ind)]) == 0
    assert np.loadtxt(tmp_path / "run" / "particle_rows.txt", dtype=int).tolist() == [1, 3, 5]  # z row order
    assert cli(base + ["--force"]) == 0  # the whole set now: no stale mapping left behind
    assert not (tmp_path / "run" / "particle_rows.txt").exists()


def test_volume_command_arguments_are_checked_before_any_work(vae_run, tmp_path, capsys):
    w, z = str(vae_run / "weights.14.pkl"), str(vae_run / "z.14.train.pkl")  # box 32
    one = tmp_path / "one.npy"
    np.save(one, np.zeros((1, 2), np.float32))
    cases = [(["eval_vol", "--weights", w, "-o", str(tmp_path / "a"), "-z", "0", "0", "-d", "64"], "--downsample 64"),
             (["eval_vol", "--weights", w, "-o", str(tmp_path / "b"), "-z", "0", "0", "--Apix", "-1"], "--Apix -1"),
             (["pc_traversal", z, "-o", str(tmp_path / "c"), "--lim", "-10", "150"], "--lim -10 150"),
             (["pc_traversal", z, "-o", str(tmp_path / "d"), "-n", "0"], "-n 0"),
             (["graph_traversal", z, "--anchors", "0", "5", "-o", str(tmp_path / "e"), "--max-neighbors", "0",
               "--avg-neighbors", "0"], "--avg-neighbors 0"),
             (["graph_traversal", str(one), "--anchors", "0", "0", "-o", str(tmp_path / "f")], "one.npy"),
             (["analyze", str(vae_run), "-5", "--skip-vol", "-o", str(tmp_path / "g")], "epoch -5")]
    for argv, expected in cases:
        assert cli(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert expected in err and "fix:" in err and len(err.splitlines()) == 1, err
        assert not list(tmp_path.glob("?/*.mrc")), argv  # nothing made


def test_progress_within_epochs_and_time_left(tiny, tmp_path, monkeypatch):
    from tomodrgn_core.train import _loop
    monkeypatch.setattr(_loop, "PROGRESS_EVERY_S", 0.0)  # a note after every batch, as a long epoch gets each minute
    assert cli(["train_vae", str(tiny["warp"]), "-o", str(tmp_path / "v"), "-n", "2"] + TINY_VAE) == 0
    log = (tmp_path / "v" / "run.log").read_text().splitlines()
    notes = [l for l in log if "to the end of the epoch" in l]
    assert [l.split("[")[1].split("]")[0] for l in notes] == ["8/24", "16/24"] * 2
    epochs = [l for l in log if " epoch " in l and ": loss" in l]
    assert "left" in epochs[0] and "left" not in epochs[1] and "kld" in epochs[0]
    assert cli(["train_nn", str(tiny["warp"]), "-o", str(tmp_path / "n"), "-n", "1", "--dim", "8", "--layers", "1",
                "--device", "cpu"]) == 0
    line = next(l for l in (tmp_path / "n" / "run.log").read_text().splitlines() if "epoch 0: loss" in l)
    assert "kld" not in line and "mse" not in line  # train_nn's loss is its MSE: said once


def test_beta_control_and_schedules(tiny, tmp_path):
    from tomodrgn_core.data import TiltSeriesData, preprocess
    from tomodrgn_core.models import build_model
    from tomodrgn_core.train import batch_loss
    from tomodrgn_core.train._beta import beta_at

    ps = load_particles(tiny["warp"])
    data = TiltSeriesData(ps, preprocess(ps, tmp_path, log=lambda m: None), sample_ntilts=6)
    torch.manual_seed(0)
    model = build_model(dict(box=16, window_points=len(data.coords), ntilts=6, zdim=2, dec_dim=16, dec_layers=2,
                             enc_dim_A=8, enc_layers_A=1, out_dim_A=4, enc_dim_B=8, enc_layers_B=1))
    b = data.batch(torch.arange(5), random=False)
    plain = batch_loss(model, b, data, beta=0.5, sample_z=False)
    ctrl = batch_loss(model, b, data, beta=0.5, sample_z=False, beta_control=3.0)
    scale = 16 ** 2 * 6  # the paper's 1 / (D^2 ntilts) normalisation of the KLD term
    assert torch.isclose(plain.mse, ctrl.mse) and float(plain.kld) > 0
    assert torch.isclose(plain.loss, plain.mse + 0.5 * plain.kld / scale)
    assert torch.isclose(ctrl.loss, ctrl.mse + 3.0 * (0.5 - ctrl.kld) ** 2 / scale)
    assert beta_at(0.5, "constant", 10, 3.0) == 0.5
    assert beta_at(0.5, "linear", 4, 1.0) == 0.125 and beta_at(0.5, "linear", 4, 9.0) == 0.5
    assert beta_at(1.0, "cyclical", 4, 1.0) == 0.5 and beta_at(1.0, "cyclical", 4, 3.0) == 1.0
    assert beta_at(1.0, "cyclical", 4, 4.0) == 0.0  # a new cycle starts from 0
    with pytest.raises(ValueError):
        beta_at(1.0, "sigmoid", 4, 1.0)
    # a KL target is needed for the controlled VAE: one-line usage error, nothing written
    assert cli(["train_vae", str(tiny["warp"]), "-o", str(tmp_path / "ctl"), "--beta-control", "1"] + TINY_VAE) == 2
    assert not (tmp_path / "ctl").exists()


def test_ddp_two_cpu_processes_match_single_process_quality(two_class, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "tomodrgn_core", "train_vae", str(two_class["warp"]), "-o", str(out), "-n", "15",
           "--checkpoint", "15", "--multigpu", "--ddp-cpu", "2"] + FAST_VAE
    res = subprocess.run(cmd, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    z = pickle.load(open(out / "z.14.train.pkl", "rb"))
    assert adjusted_rand_index(np.load(two_class["labels"]), kmeans2(z).labels_) >= 0.9


def test_ddp_worker_error_is_one_line(tiny, tmp_path):
    # a rank that stops (here: the loss diverges) must end the run with its one line, not a child traceback
    cmd = [sys.executable, "-m", "tomodrgn_core", "train_vae", str(tiny["warp"]), "-o", str(tmp_path / "ddp"),
           "--multigpu", "--ddp-cpu", "2"] + TINY_VAE
    # one good epoch, then a resumed run at a rate that blows up in its first epoch (a rate that survives epoch 0
    # and diverges later depends on the network's depth: too fragile to pick)
    good = subprocess.run(cmd + ["-n", "1"], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=300)
    assert good.returncode == 0, good.stderr[-2000:]
    res = subprocess.run(cmd + ["-n", "3", "--load", "latest", "--lr", "10"], env={"PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr[-2000:]
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("tomodrgn train_vae: error: ") and "training diverged" in last and "fix: lower --lr" in last
    assert (tmp_path / "ddp" / "weights.0.pkl").exists()  # the good epoch before the divergence is kept


def test_cpu_bf16_autocast_trains_and_is_recorded(tiny, tmp_path):
    out = tmp_path / "amp"
    assert cli(["train_vae", str(tiny["warp"]), "-o", str(out), "-n", "2", "--cpu-amp"] + TINY_VAE) == 0
    assert "bf16 autocast" in (out / "run.log").read_text()
    losses = np.loadtxt(out / "losses.csv", delimiter=",", skiprows=1)
    assert np.isfinite(losses).all() and yaml.safe_load(open(out / "config.yaml"))["training"]["cpu_amp"] is True
    # the checkpoint stays float32 (autocast only changes the compute precision)
    assert all(v.dtype == torch.float32 for v in _weights(out / "weights.1.pkl").values() if v.is_floating_point())


def test_cpu_peak_memory_is_the_runs_own_not_its_parents():
    # Linux keeps ru_maxrss across fork + exec: a run started by a big process (Scipion, the benchmark) used to
    # report its parent's peak. Touch 800 MB here, then ask a fresh child for its own peak.
    big = np.ones(100 * 2 ** 20)  # 800 MB of float64, resident
    code = ("import torch; from tomodrgn_core.train._loop import peak_memory_mb; "
            "print(peak_memory_mb(torch.device('cpu')))")
    child = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert big.sum() > 0 and 50 < child < 700, child


def test_static_padding_gives_the_same_loss_as_per_batch_padding(two_class, tmp_path):
    # GPUs pad every batch to one static length (no host sync per step); the padding must not change the loss
    from tomodrgn_core.data import TiltSeriesData, preprocess
    from tomodrgn_core.models import build_model
    from tomodrgn_core.train._loss import batch_loss
    ps = load_particles(two_class["warp"])
    data = TiltSeriesData(ps, preprocess(ps, tmp_path))  # all 31 tilts: the late ones lose points to the dose mask
    # the precomputed exposure constants of the loss are physics' dose mask and attenuation
    dose, kmag = data.dose, data.kmag[data.half]
    assert torch.equal(dose[:, None] <= data.optimal_exposure_half, P.dose_mask(dose, kmag))
    assert torch.allclose(torch.exp(-dose[:, None] * data.inv_2ne_half), P.dose_attenuation(dose, kmag))
    static = data.max_kept_points(dose_mask=True)
    assert 0 < static < data.n_sample * len(data.half) == data.max_kept_points(dose_mask=False)
    torch.manual_seed(0)
    model = build_model(dict(box=data.D, window_points=data._width, ntilts=data.n_sample, zdim=2, dec_dim=32, dec_layers=2,
                             enc_dim_A=16, enc_layers_A=1, out_dim_A=8, enc_dim_B=16, enc_layers_B=1))
    for first in (0, 40, 80):
        b = data.batch(torch.arange(first, first + 8), random=True, generator=torch.Generator().manual_seed(first))
        data.pad_points = None
        dynamic = batch_loss(model, b, data, 0.5, sample_z=False)
        data.pad_points = static
        padded = batch_loss(model, b, data, 0.5, sample_z=False)
        assert torch.allclose(dynamic.loss, padded.loss, rtol=1e-5) and torch.allclose(dynamic.mse, padded.mse)
    # the bound is tight and holds: the least-exposed tilts reach it, no random draw exceeds it
    def kept(b):
        return P.dose_mask(b.dose.reshape(-1), data.kmag[data.half]).reshape(ps.n_particles, -1).sum(1)
    everyone = torch.arange(ps.n_particles)
    for n in (6, 31):
        data = TiltSeriesData(ps, preprocess(ps, tmp_path), sample_ntilts=n)
        static = data.max_kept_points(dose_mask=True)
        assert int(kept(data.batch(everyone, random=False)).max()) == static
        for seed in range(5):
            assert int(kept(data.batch(everyone, random=True, generator=torch.Generator().manual_seed(seed))).max()) <= static


def test_compiled_step_is_one_graph_with_the_eager_losses(tiny, tmp_path, monkeypatch):
    # --compile traces the whole loss with fullgraph=True: any graph break (a host sync, a data-dependent shape)
    # would raise, which is what CUDA graphs need. aot_eager keeps eager numerics, so the losses must agree.
    import torch._dynamo
    # with a KL warm-up: beta changes at every step and must not trigger a recompile (it lives in a tensor)
    base = ["train_vae", str(tiny["warp"]), "-n", "2", "--checkpoint", "2", "--beta-schedule", "linear",
            "--beta-schedule-epochs", "2"] + TINY_VAE
    assert cli(base + ["-o", str(tmp_path / "eager")]) == 0
    monkeypatch.setenv("TOMODRGN_COMPILE_BACKEND", "aot_eager")
    torch._dynamo.reset()
    counter = torch._dynamo.utils.counters
    counter.clear()
    assert cli(base + ["-o", str(tmp_path / "compiled"), "--compile"]) == 0
    log = (tmp_path / "compiled" / "run.log").read_text()
    assert "compiling the training step (backend aot_eager)" in log and "training eagerly" not in log
    assert counter["stats"]["unique_graphs"] == 1 and not counter["graph_break"]  # 24 particles, -b 8: one shape
    eager = np.loadtxt(tmp_path / "eager" / "losses.csv", delimiter=",", skiprows=1)
    compiled = np.loadtxt(tmp_path / "compiled" / "losses.csv", delimiter=",", skiprows=1)
    assert np.allclose(eager[:, 1:4], compiled[:, 1:4], rtol=1e-4)
    assert yaml.safe_load(open(tmp_path / "compiled" / "config.yaml"))["training"]["compile"] is True
    # a compiler that fails only on the backward graph (compiled at the first backward, outside the step):
    # the run still falls back to eager, with the eager losses
    from torch._dynamo.backends.common import aot_autograd

    def no_backward(gm, example_inputs):
        raise RuntimeError("backward compiler broke")
    torch._dynamo.register_backend(aot_autograd(fw_compiler=lambda gm, ex: gm, bw_compiler=no_backward),
                                   name="tomodrgn_test_no_backward")
    monkeypatch.setenv("TOMODRGN_COMPILE_BACKEND", "tomodrgn_test_no_backward")
    torch._dynamo.reset()
    assert cli(base + ["-o", str(tmp_path / "fallback"), "--compile"]) == 0
    log = (tmp_path / "fallback" / "run.log").read_text()
    assert "backward compiler broke" in log and "training eagerly" in log
    fallback = np.loadtxt(tmp_path / "fallback" / "losses.csv", delimiter=",", skiprows=1)
    assert np.allclose(eager[:, 1:4], fallback[:, 1:4], rtol=1e-4)


def test_data_too_big_for_memory_streams_from_disk(tiny, tmp_path, monkeypatch):
    # a dataset that would not fit: the run says so, streams it (as --lazy) and trains exactly as --lazy does
    import tomodrgn_core.data._dataset as dataset
    base = ["train_vae", str(tiny["warp"]), "-n", "1", "--checkpoint", "1"] + TINY_VAE
    assert cli(base + ["-o", str(tmp_path / "lazy"), "--lazy"]) == 0
    monkeypatch.setattr(dataset, "available_bytes", lambda device: 100_000)  # 100 kB free
    assert cli(base + ["-o", str(tmp_path / "auto")]) == 0
    log = (tmp_path / "auto" / "run.log").read_text()
    rows, width = np.load(next((tmp_path / "auto").glob("*.npy")), mmap_mode="r").shape
    assert (f"the {rows} tilt images and their CTFs need 0.0 GiB, more than 70% of the 0.0 GiB free on cpu: "
            "streaming them from disk (--lazy)") in log
    assert yaml.safe_load(open(tmp_path / "auto" / "config.yaml"))["training"]["lazy"] is True
    auto = np.loadtxt(tmp_path / "auto" / "losses.csv", delimiter=",", skiprows=1)
    lazy = np.loadtxt(tmp_path / "lazy" / "losses.csv", delimiter=",", skiprows=1)
    assert np.array_equal(auto[1:4], lazy[1:4])
    # with room to spare, the images stay in memory
    monkeypatch.setattr(dataset, "available_bytes", lambda device: 10 * 2 * rows * width * 4)
    assert cli(base + ["-o", str(tmp_path / "memory")]) == 0
    assert yaml.safe_load(open(tmp_path / "memory" / "config.yaml"))["training"]["lazy"] is False
    assert "streaming" not in (tmp_path / "memory" / "run.log").read_text()
    # streamed (read one batch ahead by a reader thread) or in memory: the same tilt draws, the same training
    memory = np.loadtxt(tmp_path / "memory" / "losses.csv", delimiter=",", skiprows=1)
    assert np.allclose(memory[1:4], lazy[1:4], rtol=1e-5)


def test_force_removes_the_previous_runs_training_outputs_only(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train_vae", str(tiny["warp"]), "-o", str(out), "--checkpoint", "1"] + TINY_VAE
    assert cli(base + ["-n", "2"]) == 0
    (out / "reconstruct.7.mrc").write_bytes(b"old map")  # as a train_nn run leaves them
    (out / "reconstruct.mrc").write_bytes(b"old map")
    (out / "analyze.1").mkdir()
    (out / "notes.txt").write_text("user data")
    (out / "weights.best.pkl").write_bytes(b"user copy")  # not a name training writes: not ours to remove
    # a --force run that fails its checks removes nothing
    assert cli(base + ["-n", "1", "--force", "--sample-ntilts", "99"]) == 2
    assert (out / "weights.1.pkl").is_file() and (out / "z.1.train.npz").is_file()
    capsys.readouterr()
    assert cli(base + ["-n", "1", "--force"]) == 0
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("preprocessed."))
    assert names == ["analyze.1", "config.yaml", "losses.csv", "notes.txt", "run.log", "weights.0.pkl",
                     "weights.best.pkl", "z.0.train.npz", "z.0.train.pkl"], names
    assert (out / "notes.txt").read_text() == "user data" and (out / "weights.best.pkl").read_bytes() == b"user copy"
    assert len(np.loadtxt(out / "losses.csv", delimiter=",", skiprows=1, ndmin=2)) == 1
    log = (out / "run.log").read_text()
    # weights.0/1, z.0/1 .pkl/.npz, reconstruct.7.mrc, reconstruct.mrc, losses.csv
    assert "--force: removed 9 training output files of the previous run" in log
    assert "--force: analyze.1 belong to the previous run" in log


def test_load_refuses_a_checkpoint_of_other_particles_before_preprocessing(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train_vae", str(tiny["warp"]), "-o", str(out)] + TINY_VAE
    assert cli(base + ["-n", "1"]) == 0
    config = (out / "config.yaml").read_text()
    before = sorted(p.name for p in out.iterdir())
    ind = tmp_path / "ind.npy"
    np.save(ind, np.arange(10))
    capsys.readouterr()
    assert cli(base + ["-n", "2", "--load", "latest", "--ind", str(ind)]) == 2
    err = capsys.readouterr().err.strip()
    assert "weights.0.pkl" in err and "24 particles" in err and "this run has 10 particles" in err, err
    assert "fix:" in err and len(err.splitlines()) == 1
    # nothing rewritten, and no cache of the 10 particles preprocessed for nothing
    assert (out / "config.yaml").read_text() == config and sorted(p.name for p in out.iterdir()) == before
    # another architecture is refused as early (no preprocessing either)
    assert cli(base + ["-n", "2", "--load", "latest", "--sample-ntilts", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "ntilts=6" in err and "ntilts=5" in err and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in out.iterdir()) == before


def test_diverging_run_stops_before_saving_nan_weights(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train_vae", str(tiny["warp"]), "-o", str(out), "--checkpoint", "1"] + TINY_VAE
    assert cli(base + ["-n", "1"]) == 0
    capsys.readouterr()
    # resumed with a rate that blows up: this run's --lr applies (not the checkpoint's), epoch 1 diverges
    assert cli(base + ["-n", "3", "--load", "latest", "--lr", "10"]) == 2
    err = capsys.readouterr().err.strip()
    assert "epoch 1: the loss is NaN/inf (training diverged)" in err and "lower --lr (now 10)" in err, err
    assert "--load latest" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in out.glob("weights.*.pkl")) == ["weights.0.pkl"]
    assert all(torch.isfinite(v).all() for v in _weights(out / "weights.0.pkl").values())
    losses = np.loadtxt(out / "losses.csv", delimiter=",", skiprows=1, ndmin=2)
    assert losses.shape[0] == 1 and np.isfinite(losses).all()  # no NaN row to trip a resumed run's record
    assert "training diverged" in (out / "run.log").read_text()
    # from the first epoch, in a new folder: nothing good to keep, so the folder goes like any failed run's
    assert cli(base[:3] + [str(tmp_path / "new")] + base[4:] + ["-n", "2", "--lr", "10"]) == 2
    err = capsys.readouterr().err.strip()
    assert "epoch 0: the loss is NaN/inf" in err and "--load" not in err and not (tmp_path / "new").exists()


@pytest.mark.parametrize("command,extra,expected", [
    ("train_vae", ["--zdim", "-2"], "--zdim -2"), ("train_vae", ["--zdim", "0"], "use train_nn"),
    ("train_vae", ["--lr", "-1"], "--lr -1.0"), ("train_nn", ["--lr", "0"], "--lr 0.0"),
    ("train_nn", ["--lr", "nan"], "--lr nan"), ("train_vae", ["--enc-dim-A", "0"], "--enc-dim-A 0"),
    ("train_vae", ["--enc-layers-B", "0"], "--enc-layers-B 0"), ("train_vae", ["--out-dim-A", "-3"], "--out-dim-A -3"),
    ("train_vae", ["--dec-layers", "0"], "--dec-layers 0"), ("train_nn", ["--dec-dim", "0"], "--dec-dim 0"),
    ("train_vae", ["--beta", "-1"], "--beta -1.0"), ("train_vae", ["--beta-control", "0"], "--beta-control 0.0"),
    ("train_nn", ["--wd", "-0.01"], "--wd -0.01"), ("train_nn", ["--feat-sigma", "0"], "--feat-sigma 0.0"),
    ("train_nn", ["--sample-ntilts", "-1"], "--sample-ntilts -1"), ("train_nn", ["-b", "0"], "-b 0"),
    ("train_nn", ["--checkpoint", "-2"], "--checkpoint -2"),
    ("train_vae", ["--beta-schedule", "linear", "--beta-schedule-epochs", "0"], "--beta-schedule-epochs 0")])
def test_numeric_training_arguments_are_checked_before_reading_data(command, extra, expected, tmp_path, capsys):
    # the particles do not exist: an argument error must come first, with no traceback and no output folder
    assert cli([command, str(tmp_path / "missing.star"), "-o", str(tmp_path / "run"), "--device", "cpu"] + extra) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and "fix:" in err and len(err.splitlines()) == 1 and "missing.star" not in err, err
    assert not (tmp_path / "run").exists()


def test_sample_ntilts_beyond_the_fewest_tilts_is_refused_before_preprocessing(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()  # an existing folder stays after a failure: it must not hold a cache made for nothing
    assert cli(["train_nn", str(tiny["warp"]), "-o", str(out), "-n", "1", "--dim", "8", "--layers", "1",
                "--sample-ntilts", "18", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--sample-ntilts 18 exceeds the fewest tilts of any particle (17)" in err and len(err.splitlines()) == 1
    assert not list(out.iterdir())


@pytest.mark.parametrize("command", ["train_nn", "downsample"])
def test_ctrl_c_is_one_line_exit_130_and_keeps_the_output(command, tiny, tmp_path, monkeypatch, capsys):
    import importlib
    from tomodrgn_core.cli import COMMANDS
    out = tmp_path / "new" / "run"

    def interrupted(args):
        out.mkdir(parents=True)
        (out / "weights.0.pkl").write_bytes(b"a checkpoint")
        raise KeyboardInterrupt
    monkeypatch.setattr(importlib.import_module(COMMANDS[command][0]), "main", interrupted)
    monkeypatch.setenv("TOMODRGN_ERROR_FILE", str(tmp_path / "error.txt"))
    argv = ["-o", str(out)] if command == "train_nn" else ["-D", "8", "-o", str(out / "small.star")]
    try:
        assert cli([command, str(tiny["warp"])] + argv) == 130
    except KeyboardInterrupt:  # (escaping, it would stop the whole test session)
        pytest.fail("KeyboardInterrupt escaped cli.main")
    err = capsys.readouterr().err
    expected = f"tomodrgn {command}: interrupted" + (
        "; saved checkpoints are kept: continue with --load latest" if command == "train_nn" else "")
    assert err == expected + "\n" and (tmp_path / "error.txt").read_text() == expected + "\n"
    assert (out / "weights.0.pkl").is_file()  # a folder this run made is kept: unlike an error, not half-made


def test_version(capsys, monkeypatch):
    import importlib.metadata
    import tomodrgn_core
    assert cli(["--version"]) == 0
    assert capsys.readouterr().out == f"tomodrgn {importlib.metadata.version('scipion-em-tomodrgn')}\n"

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)
    monkeypatch.setattr(importlib.metadata, "version", not_installed)  # a source checkout: the core's own
    assert cli(["--version"]) == 0 and capsys.readouterr().out == f"tomodrgn {tomodrgn_core.__version__}\n"
    res = subprocess.run([sys.executable, "-m", "tomodrgn_core", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "--version" in res.stdout
