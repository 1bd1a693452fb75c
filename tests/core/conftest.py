"""Shared, session-scoped data: one simulated two-class set and ONE VAE trained on it, used by the training
and the analysis tests (training it once saves a minute of the suite on 2 cores)."""
import pytest

from tomodrgn_core.cli import main as cli
from tomodrgn_core.simulate import simulate_dataset

FAST_VAE = ["--zdim", "2", "--enc-dim-A", "64", "--enc-layers-A", "2", "--out-dim-A", "64", "--enc-dim-B", "32",
            "--enc-layers-B", "4", "--dec-dim", "128", "--dec-layers", "3", "-b", "8", "--l-dose-mask",
            "--recon-dose-weight", "--recon-tilt-weight", "--lr", "3.54e-4", "--sample-ntilts", "10", "--device", "cpu"]


@pytest.fixture(scope="session")
def two_class(tmp_path_factory):
    d = tmp_path_factory.mktemp("two_class")
    return simulate_dataset(d, n_particles=120, box=32, n_classes=2, snr=0.5, seed=0, max_tilt=45)


@pytest.fixture(scope="session")
def vae_run(two_class, tmp_path_factory):
    """A finished train_vae run (epochs 0-14, checkpoints 4, 9, 14) on ``two_class``."""
    out = tmp_path_factory.mktemp("vae") / "run"
    assert cli(["train_vae", str(two_class["warp"]), "-o", str(out), "-n", "15", "--checkpoint", "5"] + FAST_VAE) == 0
    return out


@pytest.fixture(scope="session")
def vae_run_seed1(two_class, tmp_path_factory):
    """The same training as ``vae_run`` with --seed 1: another run on the same particles (compare_runs)."""
    out = tmp_path_factory.mktemp("vae_seed1") / "run"
    assert cli(["train_vae", str(two_class["warp"]), "-o", str(out), "-n", "15", "--checkpoint", "5",
                "--seed", "1"] + FAST_VAE) == 0
    return out
