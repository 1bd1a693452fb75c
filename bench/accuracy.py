"""Accuracy of the training path on a device, with the test suite's data and settings: two-class separation
(ARI of k-means on z vs the truth), homogeneous reconstruction (CC to the truth) and its FSC resolution
next to the Wiener back-projection's; then the same on data we did not simulate (tests/core/test_fixture_accuracy.py):
train_nn on the reference's cryoSRPNT set (CC to its true map) and train_vae at the reference's settings on a
two-class set made from it by simulate_from_star. Run by benchmark.py after the timings (same device and autocast
flags), or alone: ``python bench/accuracy.py [cpu|cuda] [extra train flags, e.g. --cpu-amp]``."""
from __future__ import annotations

import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def accuracy(device: str, extra: list[str]) -> str:
    """One line; the training logs go to the run folders, not the screen."""
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        return _accuracy(device, extra)


def _accuracy(device: str, extra: list[str]) -> str:
    from sklearn.cluster import KMeans

    from tomodrgn_core.analysis.metrics import adjusted_rand_index, map_cc, masked_fsc, resolution_at
    from tomodrgn_core.cli import main as cli
    from tomodrgn_core.io import load_particles, read_volume
    from tomodrgn_core.reconstruct import backproject
    from tomodrgn_core.simulate import simulate_dataset

    weights = ["--l-dose-mask", "--recon-dose-weight", "--recon-tilt-weight", "--sample-ntilts", "10",
               "--device", device] + extra
    root = Path(tempfile.mkdtemp(prefix="tomodrgn_accuracy_"))
    two = simulate_dataset(root / "two", n_particles=120, box=32, n_classes=2, snr=0.5, seed=0, max_tilt=45)
    vae = ["--zdim", "2", "--enc-dim-A", "64", "--enc-layers-A", "2", "--out-dim-A", "64", "--enc-dim-B", "32",
           "--enc-layers-B", "4", "--dec-dim", "128", "--dec-layers", "3", "-b", "8", "--lr", "3.54e-4"]
    assert cli(["train_vae", str(two["warp"]), "-o", str(root / "vae"), "-n", "15", "--checkpoint", "15"]
               + vae + weights) == 0
    z = pickle.load(open(root / "vae" / "z.14.train.pkl", "rb"))
    ari = adjusted_rand_index(np.load(two["labels"]), KMeans(2, n_init=10, random_state=0).fit_predict(z))
    one = simulate_dataset(root / "one", n_particles=100, box=32, n_classes=1, snr=0.3, seed=1, max_tilt=45)
    assert cli(["train_nn", str(one["warp"]), "-o", str(root / "nn"), "-n", "16", "--checkpoint", "16",
                "--dim", "128", "--layers", "3", "-b", "2", "--lr", "2.12e-3"] + weights) == 0
    gt = read_volume(one["volumes"][0])[0]
    vol = read_volume(root / "nn" / "reconstruct.mrc")[0]
    ps = load_particles(one["warp"])
    bp = backproject(ps.images(np.arange(len(ps.table))), ps.table)
    res = [resolution_at(*masked_fsc(v, gt), 0.143) for v in (vol, bp)]
    fixture_cc, fixture_ari = _fixture(root, ["--device", device] + extra)
    return (f"accuracy on {device}{' ' + ' '.join(extra) if extra else ''}: train_vae two-class ARI {ari:.3f}; "
            f"train_nn CC to truth {map_cc(vol, gt):.3f}, FSC 0.143 at {res[0]:.2f} px "
            f"(Wiener back-projection {res[1]:.2f} px); cryoSRPNT fixture: train_nn CC {fixture_cc:.3f}, "
            f"two-class train_vae ARI {fixture_ari:.3f}")


def _fixture(root: Path, flags: list[str]) -> tuple[float, float]:
    """The fixture tests' runs (tests/core/test_fixture_accuracy.py), with their settings."""
    from sklearn.cluster import KMeans

    from tomodrgn_core.analysis.metrics import adjusted_rand_index, map_cc
    from tomodrgn_core.cli import main as cli
    from tomodrgn_core.io import read_volume
    from tomodrgn_core.simulate import remove_domain, simulate_from_star

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))
    from _data import CRYOSRPNT_MAP, CRYOSRPNT_NOISY
    from test_fixture_accuracy import REFERENCE_VAE

    gt = read_volume(CRYOSRPNT_MAP)[0]
    assert cli(["train_nn", str(CRYOSRPNT_NOISY), "-o", str(root / "fixture_nn"), "--uninvert-data", "-n", "20",
                "--dim", "256", "--layers", "3", "--lr", "4e-4", "--checkpoint", "0"] + flags) == 0
    cc = map_cc(read_volume(root / "fixture_nn" / "reconstruct.mrc")[0], gt)
    labels = np.r_[np.zeros(72, int), np.ones(72, int)]
    star = simulate_from_star(CRYOSRPNT_NOISY, [gt, remove_domain(gt, 0.3)], labels, root / "fixture_two.star",
                              snr=0.1, seed=0)
    assert cli(["train_vae", str(star), "-o", str(root / "fixture_vae"), "--uninvert-data", "--checkpoint", "0"]
               + REFERENCE_VAE + flags) == 0
    z = pickle.load(open(root / "fixture_vae" / "z.19.train.pkl", "rb"))
    return cc, adjusted_rand_index(labels, KMeans(2, n_init=10, random_state=0).fit_predict(z))


if __name__ == "__main__":
    print(accuracy(sys.argv[1] if len(sys.argv) > 1 else "cuda", sys.argv[2:]), flush=True)
