"""A run killed at any moment resumes cleanly: no epoch logged twice, no half-written file read back."""
import numpy as np
import pandas as pd

from tomodrgn_core.checkpoints import write_z
from tomodrgn_core.cli import main as cli
from tomodrgn_core.simulate import simulate_dataset

NN = ["--dim", "32", "--layers", "2", "-b", "4", "--device", "cpu", "--seed", "1"]


def test_resume_after_a_kill_between_log_and_checkpoint_lists_each_epoch_once(tmp_path):
    data = simulate_dataset(tmp_path / "sim", n_particles=8, box=16, n_classes=1, snr=1.0, seed=2, max_tilt=12)
    run = tmp_path / "run"
    assert cli(["train_nn", str(data["warp"]), "-o", str(run), "-n", "2", "--checkpoint", "1"] + NN) == 0
    # a kill after epoch 2 was logged but before its checkpoint: the row is there, weights.2.pkl is not
    with open(run / "losses.csv", "a") as f:
        f.write("2,0.5,0.5,0,1.0,8.0\n")
    assert cli(["train_nn", str(data["warp"]), "-o", str(run), "-n", "4", "--load", "latest"] + NN) == 0
    losses = pd.read_csv(run / "losses.csv")
    assert list(losses["epoch"]) == [0, 1, 2, 3]
    assert losses.loc[2, "loss"] != 0.5  # the resumed epoch 2, not the killed one's row


def test_z_files_are_replaced_whole(tmp_path):
    mu, logvar = np.ones((5, 2), np.float32), np.zeros((5, 2), np.float32)
    write_z(tmp_path, 3, mu, logvar)
    write_z(tmp_path, 3, 2 * mu, logvar)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.3.train.npz", "z.3.train.pkl"]  # no .partial left
    assert np.array_equal(np.load(tmp_path / "z.3.train.npz")["mu"], 2 * mu)
    assert np.array_equal(pd.read_pickle(tmp_path / "z.3.train.pkl"), 2 * mu)
