"""The CPU accuracy checks of the test suite, on the GPU with bf16 autocast (the fast path): two-class
separation (ARI) and homogeneous reconstruction (CC). Not a test: run it where a GPU is available."""
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tomodrgn_core.analysis.metrics import adjusted_rand_index, map_cc  # noqa: E402
from tomodrgn_core.cli import main as cli  # noqa: E402
from tomodrgn_core.io import read_volume  # noqa: E402
from tomodrgn_core.simulate import simulate_dataset  # noqa: E402

ARCH = ["--enc-dim-A", "64", "--enc-layers-A", "2", "--out-dim-A", "64", "--enc-dim-B", "32", "--enc-layers-B", "4",
        "--dec-dim", "128", "--dec-layers", "3", "-b", "8", "--l-dose-mask", "--recon-dose-weight",
        "--recon-tilt-weight", "--lr", "1e-3", "--sample-ntilts", "10", "--device", sys.argv[1] if len(sys.argv) > 1 else "cuda"]

root = Path(tempfile.mkdtemp())
two = simulate_dataset(root / "two", n_particles=120, box=32, n_classes=2, snr=0.5, seed=0, max_tilt=45)
cli(["train_vae", str(two["warp"]), "-o", str(root / "vae"), "-n", "15", "--checkpoint", "15", "--zdim", "2"] + ARCH)
from sklearn.cluster import KMeans  # noqa: E402
z = pickle.load(open(root / "vae" / "z.14.train.pkl", "rb"))
ari = adjusted_rand_index(np.load(two["labels"]), KMeans(2, n_init=10, random_state=0).fit_predict(z))
one = simulate_dataset(root / "one", n_particles=100, box=32, n_classes=1, snr=0.3, seed=1, max_tilt=45)
cli(["train_nn", str(one["warp"]), "-o", str(root / "nn"), "-n", "10", "--checkpoint", "10"]
    + ARCH[10:])  # the decoder and loss flags (no encoder for train_nn)
cc = map_cc(read_volume(root / "nn" / "reconstruct.mrc")[0], read_volume(one["volumes"][0])[0])
print(f"ACCURACY device={ARCH[-1]}: train_vae two-class ARI {ari:.3f}; train_nn CC to truth {cc:.3f}")
