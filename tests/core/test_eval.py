"""Evaluation API and eval_vol options on tiny trained runs (box 16, one epoch: behaviour, not quality)."""
import mrcfile
import numpy as np
import pytest

from tomodrgn_core.cli import main as cli
from tomodrgn_core.errors import TomoDrgnInputError
from tomodrgn_core.evaluation import embed_particles, generate_volumes, load_model, write_volumes
from tomodrgn_core.io import load_particles, read_volume
from tomodrgn_core.simulate import simulate_dataset

COMMON = ["-n", "2", "-b", "8", "--checkpoint", "1", "--dec-dim", "32", "--dec-layers", "2", "--sample-ntilts", "6",
          "--lr", "1.06e-3", "--device", "cpu"]  # (x sqrt(8): trains at 3e-3)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("eval")
    sim = simulate_dataset(d / "data", n_particles=24, box=16, n_classes=2, snr=1.0, seed=5, max_tilt=24)
    assert cli(["train_nn", str(sim["warp"]), "-o", str(d / "nn")] + COMMON) == 0
    assert cli(["train_vae", str(sim["warp"]), "-o", str(d / "vae"), "--zdim", "3", "--enc-dim-A", "16",
                "--enc-layers-A", "1", "--out-dim-A", "8", "--enc-dim-B", "16", "--enc-layers-B", "1"] + COMMON) == 0
    return sim, d / "nn", d / "vae"


def test_load_model_picks_epochs_and_homogeneous_volume_matches_reconstruct(runs):
    sim, nn, _ = runs
    model, cfg = load_model(nn, device="cpu")
    assert cfg["epoch"] == 1 and cfg["model"]["zdim"] == 0 and model.encoder is None
    assert load_model(nn, epoch=0, device="cpu")[1]["epoch"] == 0
    vol = generate_volumes(model, cfg, None)
    assert vol.shape == (1, 16, 16, 16) and vol.dtype == np.float32
    saved, apix = read_volume(nn / "reconstruct.mrc")
    assert np.allclose(vol[0], saved, atol=1e-5 * np.abs(saved).max())
    assert np.isclose(apix, sim["dataset"].pixel_size)
    with pytest.raises(TomoDrgnInputError):
        load_model(nn, epoch=7, device="cpu")


def test_eval_vol_options_and_headers(runs, tmp_path):
    sim, nn, _ = runs
    apix = sim["dataset"].pixel_size
    base = ["eval_vol", "--weights", str(nn / "weights.1.pkl"), "--config", str(nn / "config.yaml")]
    assert cli(base + ["-o", str(tmp_path / "plain.mrc")]) == 0
    assert cli(base + ["-o", str(tmp_path / "flip.mrc"), "--flip", "--invert"]) == 0
    assert cli(base + ["-o", str(tmp_path / "small.mrc"), "--downsample", "8"]) == 0
    assert cli(base + ["-o", str(tmp_path / "apix.mrc"), "--Apix", "3.5"]) == 0
    plain, a0 = read_volume(tmp_path / "plain.mrc")
    flip, _ = read_volume(tmp_path / "flip.mrc")
    small, a_small = read_volume(tmp_path / "small.mrc")
    assert np.isclose(a0, apix) and np.allclose(flip, -plain[::-1])
    # Fourier cropping to half the box doubles the voxel size and keeps the low frequencies unchanged
    assert small.shape == (8, 8, 8) and np.isclose(a_small, 2 * apix)
    big_ft = np.fft.fftshift(np.fft.fftn(plain))[5:12, 5:12, 5:12]  # |k| < 4 of 16 (Nyquist plane aside)
    small_ft = np.fft.fftshift(np.fft.fftn(small))[1:, 1:, 1:]
    cos = abs(np.vdot(big_ft, small_ft)) / (np.linalg.norm(big_ft) * np.linalg.norm(small_ft))
    assert cos > 0.999
    with mrcfile.open(tmp_path / "apix.mrc") as m:
        assert np.isclose(float(m.voxel_size.x), 3.5) and m.data.dtype == np.float32 and m.data.shape == (16,) * 3


def test_vae_volumes_depend_on_z_and_errors(runs, tmp_path, capsys):
    sim, _, vae = runs
    model, cfg = load_model(vae, device="cpu")
    z = np.array([[0, 0, 0], [3, -3, 3]], np.float32)
    vols = generate_volumes(model, cfg, z)
    assert vols.shape == (2, 16, 16, 16) and not np.allclose(vols[0], vols[1])
    assert np.allclose(generate_volumes(model, cfg, z[1:])[0], vols[1], atol=1e-5)
    paths = write_volumes(vols, tmp_path / "out", cfg["dataset"]["pixel_size"], prefix="v")
    assert [p.name for p in paths] == ["v000.mrc", "v001.mrc"]
    with pytest.raises(TomoDrgnInputError, match="zdim 3"):
        generate_volumes(model, cfg, np.zeros((1, 2)))
    with pytest.raises(TomoDrgnInputError):
        generate_volumes(model, cfg, None)
    base = ["eval_vol", "--weights", str(vae / "weights.1.pkl"), "-o", str(tmp_path / "cli")]
    assert cli(base) == 2 and "latent" in capsys.readouterr().err
    assert cli(base + ["-z", "0", "0", "0"]) == 0
    assert np.allclose(read_volume(tmp_path / "cli" / "vol_000.mrc")[0], vols[0], atol=1e-5)
    # a training folder + --epoch picks that checkpoint (epoch 0 differs from the last one)
    assert cli(["eval_vol", "--weights", str(vae), "--epoch", "0", "-z", "0", "0", "0", "-o", str(tmp_path / "e0")]) == 0
    e0 = generate_volumes(*load_model(vae, epoch=0, device="cpu"), z[:1])[0]
    assert np.allclose(read_volume(tmp_path / "e0" / "vol_000.mrc")[0], e0, atol=1e-5)
    assert not np.allclose(e0, vols[0])


def test_embedding_is_deterministic_and_matches_the_saved_z(runs, tmp_path):
    sim, nn, vae = runs
    model, cfg = load_model(vae, device="cpu")
    ps = load_particles(sim["warp"])
    mu, logvar = embed_particles(model, cfg, ps, batch_size=7, device="cpu")
    mu2, _ = embed_particles(model, cfg, ps, batch_size=24, device="cpu", lazy=True)
    saved = np.load(vae / "z.1.train.npz")
    assert mu.shape == logvar.shape == (24, 3)
    assert np.allclose(mu, mu2, atol=1e-5) and np.allclose(mu, saved["mu"], atol=1e-5)
    assert np.allclose(logvar, saved["logvar"], atol=1e-5)
    # eval_images refuses a homogeneous checkpoint with a one-line error
    assert cli(["eval_images", str(sim["warp"]), "--weights", str(nn / "weights.1.pkl"),
                "--out-z", str(tmp_path / "z.pkl")]) == 2
    assert not (tmp_path / "z.pkl").exists()


def test_z_files_that_do_not_fit_the_model_are_named(runs, tmp_path, capsys):
    _, nn, vae = runs
    weights = str(vae / "weights.1.pkl")
    bad = tmp_path / "z_wide.txt"
    np.savetxt(bad, np.zeros((4, 2)))  # 2 columns for a zdim-3 model
    assert cli(["eval_vol", "--weights", weights, "--zfile", str(bad), "-o", str(tmp_path / "v")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{bad}: latent array is 4 x 2, expected N x 3 (the model's zdim is 3)" in err
    assert "fix: give 3 values per row" in err and not (tmp_path / "v").exists()
    assert cli(["eval_vol", "--weights", weights, "-z", "0", "0", "-o", str(tmp_path / "v")]) == 2
    assert "-z has 2 value(s), the model's zdim is 3" in capsys.readouterr().err
    # the traversals check the z file against --weights before writing anything
    wide = tmp_path / "z_wide.npy"
    np.save(wide, np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32))
    for cmd in (["pc_traversal", str(wide), "--dim", "1"], ["graph_traversal", str(wide), "--anchors", "0", "5"]):
        assert cli(cmd + ["-o", str(tmp_path / cmd[0]), "--weights", weights, "--device", "cpu"]) == 2
        err = capsys.readouterr().err
        assert f"{wide}: latent array is 30 x 4, expected N x 3" in err, err
        assert not (tmp_path / cmd[0]).exists()
    assert cli(["pc_traversal", str(wide), "-o", str(tmp_path / "h"), "--weights", str(nn / "weights.1.pkl")]) == 2
    assert "the model is homogeneous (train_nn, zdim 0)" in capsys.readouterr().err


def test_missing_gpu_is_a_device_error_not_a_bad_checkpoint(runs, tmp_path, capsys):
    import torch
    from tomodrgn_core.checkpoints import load_checkpoint
    _, _, vae = runs
    assert not torch.cuda.is_available()  # this test runs on the CPU build, where every cuda device is missing
    base = ["eval_vol", "--weights", str(vae / "weights.1.pkl"), "-z", "0", "0", "0", "-o", str(tmp_path / "v")]
    assert cli(base + ["--device", "cuda:3"]) == 2
    assert capsys.readouterr().err == ("tomodrgn eval_vol: error: --device cuda:3: no such CUDA device "
                                       "(this machine has 0) -> fix: --device cpu\n")
    assert cli(base + ["--device", "cuda"]) == 2
    assert "--device cuda: no such CUDA device" in capsys.readouterr().err
    assert cli(base + ["--device", "gpu"]) == 2
    assert "--device gpu: not a device name -> fix: --device cpu, cuda or cuda:N" in capsys.readouterr().err
    for cmd in (["eval_images", "x.star", "--weights", str(vae), "--out-z", str(tmp_path / "z.pkl")],
                ["pc_traversal", str(vae / "z.1.train.pkl"), "-o", str(tmp_path / "pc"), "--weights", str(vae)],
                ["analyze", str(vae), "1", "--ksample", "2"]):
        assert cli(cmd + ["--device", "cuda:1"]) == 2
        err = capsys.readouterr().err
        assert "--device cuda:1: no such CUDA device" in err and "checkpoint" not in err, err
    with pytest.raises(TomoDrgnInputError, match="no such CUDA device"):
        load_checkpoint(vae / "weights.1.pkl", map_location="cuda:3")
    assert not (tmp_path / "v").exists() and not (tmp_path / "pc").exists()
    assert cli(base + ["--device", "cpu"]) == 0


def test_check_device_counts_the_gpus(monkeypatch):
    """A two-GPU machine, simulated: cuda:1 is fine, cuda:3 names the GPUs there are."""
    import torch
    from tomodrgn_core.checkpoints import check_device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert check_device("cuda:1") == torch.device("cuda", 1) and check_device("cuda") == torch.device("cuda")
    assert check_device(None) == torch.device("cuda") and check_device("cpu") == torch.device("cpu")
    with pytest.raises(TomoDrgnInputError) as err:
        check_device("cuda:3")
    assert str(err.value) == ("--device cuda:3: no such CUDA device (this machine has 2) "
                              "-> fix: --device cpu or a listed GPU (cuda:0..cuda:1)")


def test_homogeneous_model_refuses_latent_values(runs, tmp_path, capsys):
    """A train_nn model has one volume: z rows given to it used to be dropped without a word."""
    _, nn, _ = runs
    zfile = tmp_path / "z.txt"
    np.savetxt(zfile, np.zeros((4, 3)))
    base = ["eval_vol", "--weights", str(nn / "weights.1.pkl"), "-o", str(tmp_path / "v")]
    assert cli(base + ["--zfile", str(zfile)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--zfile given, but this is a homogeneous (train_nn) model" in err, err
    assert "fix: drop --zfile, or give --weights from train_vae" in err
    assert cli(base + ["-z", "0", "0", "0"]) == 2
    assert "-z given, but this is a homogeneous" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()
    assert cli(base) == 0 and len(list((tmp_path / "v").glob("*.mrc"))) == 1  # without z it still works


def test_missing_checkpoint_is_not_found_and_lists_the_saved_epochs(runs, tmp_path, capsys):
    _, nn, vae = runs
    missing = vae / "weights.99.pkl"
    assert cli(["eval_vol", "--weights", str(missing), "-z", "0", "0", "0", "-o", str(tmp_path / "v")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{missing}: checkpoint not found (saved epochs in {vae}: 0-1)" in err, err
    assert f"fix: give one of the saved checkpoints, e.g. {vae / 'weights.1.pkl'}" in err and "train first" not in err
    with pytest.raises(TomoDrgnInputError, match=r"no checkpoint of epoch 7 \(saved epochs in .*: 0-1\)"):
        load_model(nn, epoch=7, device="cpu")
    with pytest.raises(TomoDrgnInputError, match="training folder not found"):
        load_model(tmp_path / "no_such_run", device="cpu")
    # an existing folder without checkpoints still says to train first
    (tmp_path / "empty").mkdir()
    with pytest.raises(TomoDrgnInputError, match="no weights.<epoch>.pkl in the training folder"):
        load_model(tmp_path / "empty", device="cpu")


def test_eval_images_warns_about_another_pixel_size_and_makes_the_out_z_folder(runs, tmp_path, capsys):
    sim, _, vae = runs
    px = sim["dataset"].pixel_size
    coarse = simulate_dataset(tmp_path / "coarse", n_particles=24, box=16, n_classes=2, snr=1.0, seed=5, max_tilt=24,
                              pixel_size=1.5 * px)
    out = tmp_path / "new" / "deeper" / "z.pkl"  # folders that do not exist yet
    assert cli(["eval_images", str(coarse["warp"]), "--weights", str(vae), "--out-z", str(out), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    warn = [line for line in err.splitlines() if "warning" in line]
    assert len(warn) == 1 and f"particles are at {1.5 * px:g} A/px, the model was trained at {px:g} A/px" in warn[0]
    assert out.is_file() and out.with_suffix(".npz").is_file()
    # the training pixel size: no warning
    assert cli(["eval_images", str(sim["warp"]), "--weights", str(vae), "--out-z", str(tmp_path / "z.pkl"),
                "--device", "cpu"]) == 0
    assert "warning" not in capsys.readouterr().err
    # an --out-z under a file cannot be written: refused before the embedding
    (tmp_path / "afile").write_text("x")
    assert cli(["eval_images", str(sim["warp"]), "--weights", str(vae), "--out-z", str(tmp_path / "afile" / "z.pkl"),
                "--device", "cpu"]) == 2
    assert "is not a writable folder" in capsys.readouterr().err


def test_convergence_nn_reference_pixel_size_and_stable_but_wrong_caveat(runs, tmp_path, capsys):
    from tomodrgn_core.analysis.convergence_runs import convergence_nn
    from tomodrgn_core.io import write_volume
    sim, nn, _ = runs
    px = sim["dataset"].pixel_size
    last, apix = read_volume(nn / "reconstruct.1.mrc")
    assert np.isclose(apix, px)
    write_volume(tmp_path / "ref12.mrc", last, 1.5 * px)  # same box, other scale
    assert cli(["convergence_nn", str(nn), "--ref-vol", str(tmp_path / "ref12.mrc"), "-o", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"reference map is at {1.5 * px:g} A/px, the reconstructions at {px:g} A/px" in err
    assert str(tmp_path / "ref12.mrc") in err and not (tmp_path / "c").exists()
    # tolerances loose enough to call the 2-epoch run converged; an inverted reference (CC -1, FSC -1 at every
    # shell) must not read as a plain success, nor get a resolution coarser than the box
    s = convergence_nn(nn, tmp_path / "c1", ref_vol=-last, ref_pixel_size=px, cc_tol=-1.0, loss_tol=100.0,
                       log=lambda m: None)
    v = s["verdict"]
    assert v.startswith("CONVERGED") and "FSC never reaches 0.5" in v, v
    assert v.endswith("but CC vs reference only -1.00: the map is stable, not necessarily right"), v
    s = convergence_nn(nn, tmp_path / "c2", ref_vol=last, ref_pixel_size=px, cc_tol=-1.0, loss_tol=100.0,
                       log=lambda m: None)
    assert s["verdict"].startswith("CONVERGED") and "not necessarily right" not in s["verdict"]
    assert "Against the reference map: CC 1.000, FSC 0.5 at " in s["verdict"]
