"""GPU check of the fast paths (needs CUDA; not a test: CI has no GPU). Exits non-zero on a failed check.

For --cuda-graph, --compile and --lazy in turn, trains the same small runs as plain in-memory eager training
on the same device and checks: the run says it used the fast path (no eager fallback), train_nn's per-epoch
losses match eager (fp32, no noise in the loss: same batches, same numbers up to kernel rounding; --lazy
draws its tilts on the host, so there only within 5%), train_vae's losses stay within 5% of eager (the
latent noise differs); and prints ms per batch-1 step for each. Then the timings and
the accuracy line (ARI, CC, FSC with the same flags): ``python bench/benchmark.py --preset gpu [--cuda-graph |
--compile]``.

  python bench/gpu_check.py [--particles 300] [--box 64] [--modes cuda-graph compile lazy]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def train(cmd: str, star, out: Path, extra: list[str], device: str) -> tuple[np.ndarray, str]:
    from tomodrgn_core.cli import main as cli
    with contextlib.redirect_stdout(io.StringIO()):
        rc = cli([cmd, str(star), "-o", str(out), "-n", "3", "--checkpoint", "3", "--device", device, "--force",
                  "--l-dose-mask", "--recon-dose-weight", "--recon-tilt-weight", "--sample-ntilts", "8"] + extra)
    if rc:
        raise SystemExit(f"{cmd} {' '.join(extra)} exited with {rc}")
    return np.loadtxt(out / "losses.csv", delimiter=",", skiprows=1, ndmin=2), (out / "run.log").read_text()


def main() -> None:
    import torch

    from tomodrgn_core.simulate import simulate_dataset

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--particles", type=int, default=300)
    ap.add_argument("--box", type=int, default=64)
    ap.add_argument("--device", default="cuda", help="cpu: a dry run of this script (the fast paths then fall back)")
    ap.add_argument("--modes", nargs="*", default=["cuda-graph", "compile", "lazy"],
                    choices=["cuda-graph", "compile", "lazy"])
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device (this script checks the GPU fast paths)")
    root = Path(tempfile.mkdtemp(prefix="tomodrgn_gpu_check_"))
    data = simulate_dataset(root / "sim", n_particles=args.particles, box=args.box, n_classes=2, snr=0.5, seed=0,
                            max_tilt=45, pixel_size=8.0 * 64 / args.box)
    nn = ["--dim", "256", "--layers", "3", "-b", "1", "--no-amp", "--lr", "1e-4"]
    vae = ["--zdim", "8", "--enc-dim-A", "256", "--enc-layers-A", "3", "--out-dim-A", "128", "--enc-dim-B", "256",
           "--enc-layers-B", "3", "--dec-dim", "256", "--dec-layers", "3", "-b", "1"]
    failed = []

    def ms(losses):  # median ms per batch-1 step after the first (warm-up, capture) epoch
        return 1000 * float(np.median(losses[1:, 4])) / args.particles

    base_nn, _ = train("train_nn", data["warp"], root / "nn_eager", nn, args.device)
    base_vae, _ = train("train_vae", data["warp"], root / "vae_eager", vae, args.device)
    print(f"eager         train_nn {ms(base_nn):6.2f} ms/step                    train_vae {ms(base_vae):6.2f} ms/step",
          flush=True)
    for mode in args.modes:
        losses_nn, log_nn = train("train_nn", data["warp"], root / f"nn_{mode}", nn + [f"--{mode}"], args.device)
        losses_vae, log_vae = train("train_vae", data["warp"], root / f"vae_{mode}", vae + [f"--{mode}"], args.device)
        for log in (log_nn, log_vae):
            if "training eagerly" in log and args.device.startswith("cuda"):  # (a CPU dry run falls back by design)
                failed.append(f"{mode}: fell back to eager: " +
                              next(l for l in log.splitlines() if "training eagerly" in l).split(" ", 2)[-1])
        same = np.allclose(losses_nn[:, 1:3], base_nn[:, 1:3], rtol=0.05 if mode == "lazy" else 2e-3)
        if not same:
            failed.append(f"{mode}: train_nn losses {losses_nn[:, 1].tolist()} differ from eager {base_nn[:, 1].tolist()}")
        close = np.allclose(losses_vae[:, 1:3], base_vae[:, 1:3], rtol=0.05)
        if not close:
            failed.append(f"{mode}: train_vae losses {losses_vae[:, 1].tolist()} far from eager {base_vae[:, 1].tolist()}")
        print(f"--{mode:11s} train_nn {ms(losses_nn):6.2f} ms/step ({'losses = eager' if same else 'LOSSES DIFFER'})"
              f"   train_vae {ms(losses_vae):6.2f} ms/step ({'losses ~ eager' if close else 'LOSSES DIFFER'})",
              flush=True)
    for line in failed:
        print(f"FAILED {line}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
