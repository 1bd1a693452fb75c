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
          "--lr", "3e-3", "--device", "cpu"]


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
