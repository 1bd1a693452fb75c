"""Training throughput benchmark (issue 6). Not a test: prints one line per setting.

Builds data with our simulator at the shapes of the reference tomoDRGN anchors, trains each setting for a
few epochs in a fresh process and reports the median epoch time after the first (warm-up) epoch, particles/s,
peak memory (CUDA max allocated on GPU, peak resident memory of the training process on CPU) and, as a
smoke check, ARI (VAE, 2 classes) or CC to the truth (NN) after those few epochs. Then one accuracy line
(bench/accuracy.py: the test suite's ARI / CC / FSC checks on the same device and autocast flags).

  python bench/benchmark.py --preset cpu            # 2-core CPU anchor (reference: 9.2 s/epoch, ~16 p/s)
  python bench/benchmark.py --preset cpu --cpu-amp  # the same with bf16 autocast on the CPU (AMX units)
  python bench/benchmark.py --preset gpu            # H100 anchors, box 64 and 128
  python bench/benchmark.py --preset gpu --cuda-graph  # the same with the step replayed as CUDA graphs
  python bench/benchmark.py --preset gpu --compile  # the same with the step compiled (inductor + CUDA graphs)
  python bench/benchmark.py --preset gpu --lazy     # the same with the images streamed from disk
  python bench/benchmark.py --preset gpu --cuda-graph --fp32  # graphs without bf16 casts (TF32 matmuls)
  python bench/benchmark.py --preset memory         # lazy loading: peak RSS at N and 4N particles
  python bench/benchmark.py --preset boxes          # train_vae and train_nn at box 32/64/128 (small data)
"""
from __future__ import annotations

import argparse
import pickle
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# reference tomoDRGN seconds per epoch (issue 6 anchors)
REFERENCE = {("vae", 64, 1): 16.0, ("vae", 128, 1): 17.9, ("vae", 64, 8): 4.45, ("vae", 128, 8): 6.5,
             ("nn", 64, 1): 5.5, ("nn", 128, 1): 11.1, ("vae", 32, 1): 9.2}
SMALL_ARCH = ["--enc-dim-A", "64", "--enc-layers-A", "2", "--out-dim-A", "64", "--enc-dim-B", "32",
              "--enc-layers-B", "4", "--dec-dim", "256", "--dec-layers", "3", "--zdim", "8"]
PAPER_ARCH = ["--enc-dim-A", "256", "--enc-layers-A", "3", "--out-dim-A", "128", "--enc-dim-B", "256",
              "--enc-layers-B", "3", "--dec-dim", "256", "--dec-layers", "3", "--zdim", "128"]
WEIGHTS = ["--l-dose-mask", "--recon-dose-weight", "--recon-tilt-weight"]


def make_data(root: Path, n: int, box: int, classes: int = 2):
    from tomodrgn_core.simulate import simulate_dataset
    # 9 tilts (0, +-3 ... +-12) with one dropped at random for a third of nothing: 8-10 as the anchors
    return simulate_dataset(root / f"sim_{n}_{box}_{classes}", n_particles=n, box=box, n_classes=classes,
                            snr=0.1, seed=0, max_tilt=12 if box > 32 else 13.5, pixel_size=8.0 * 64 / box,
                            overwrite=True)


def run(kind: str, star, out: Path, batch: int, epochs: int, arch: list, extra: list, device: str) -> dict:
    cmd = [sys.executable, "-m", "tomodrgn_core", "train_vae" if kind == "vae" else "train_nn", str(star),
           "-o", str(out), "-n", str(epochs), "-b", str(batch), "--checkpoint", str(epochs), "--device", device,
           "--force"] + arch + WEIGHTS + extra
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode:
        raise SystemExit(res.stderr[-3000:])
    lines = [l for l in res.stdout.splitlines() if re.search(r"epoch \d+: loss", l)]
    # a --compile / --cuda-graph run that fell back to eager must not pass for a fast-path figure
    fallback = [l.split(" ", 2)[-1] for l in res.stdout.splitlines() if "training eagerly" in l]
    secs = [float(re.search(r"\| ([\d.]+) s", l).group(1)) for l in lines]
    mem = max(float(re.search(r"peak memory (\d+) MB", l).group(1)) for l in lines)
    steady = float(np.median(secs[1:] if len(secs) > 1 else secs))
    return {"epoch_s": steady, "mem_mb": mem, "wall_s": time.perf_counter() - t0, "out": out, "fallback": fallback}


def quality(kind: str, data: dict, out: Path, epochs: int) -> str:
    from tomodrgn_core.analysis.metrics import adjusted_rand_index, map_cc
    from tomodrgn_core.io import read_volume
    if kind == "vae":
        from sklearn.cluster import KMeans
        z = pickle.load(open(out / f"z.{epochs - 1}.train.pkl", "rb"))
        lab = KMeans(2, n_init=10, random_state=0).fit_predict(z)
        return f"ARI {adjusted_rand_index(np.load(data['labels']), lab):.2f}"
    vol, _ = read_volume(out / "reconstruct.mrc")
    return f"CC {map_cc(vol, read_volume(data['volumes'][0])[0]):.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=["cpu", "gpu", "memory", "quick", "boxes"], default="cpu")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--amp", action="store_true", help="keep bf16 autocast on (default for gpu preset)")
    ap.add_argument("--cpu-amp", action="store_true", help="bf16 autocast on CPU as well (train --cpu-amp)")
    ap.add_argument("--no-accuracy", action="store_true", help="skip the accuracy line after the timings")
    ap.add_argument("--compile", action="store_true", help="train with --compile (one CUDA graph per step on GPUs)")
    ap.add_argument("--cuda-graph", action="store_true", help="train with --cuda-graph (step replayed as CUDA graphs)")
    ap.add_argument("--lazy", action="store_true", help="train with --lazy (images streamed from disk)")
    ap.add_argument("--fp32", action="store_true", help="gpu preset: --no-amp (float32, TF32 matmuls) instead of bf16")
    args = ap.parse_args()
    root = Path(args.workdir or tempfile.mkdtemp(prefix="tomodrgn_bench_"))
    amp = [] if (args.amp or args.preset == "gpu") and not args.fp32 else ["--no-amp"]
    if args.cpu_amp:
        amp = ["--cpu-amp"]
    if args.compile:
        amp = amp + ["--compile"]
    if args.cuda_graph:
        amp = amp + ["--cuda-graph"]
    if args.lazy:
        amp = amp + ["--lazy"]
    if args.preset == "memory":
        peaks = []
        for n in (250, 1000):
            data = make_data(root, n, 64, classes=1)
            r = run("nn", data["warp"], root / f"mem_{n}", 8, 1, ["--dim", "128"], ["--lazy", "--no-amp"], "cpu")
            peaks.append(r["mem_mb"])
            print(f"lazy train_nn box 64, {n:5d} particles: peak RSS {r['mem_mb']:.0f} MB", flush=True)
        print(f"growth for 4x the particles: {100 * (peaks[1] / peaks[0] - 1):+.1f}% (goal < 10%)", flush=True)
        return
    if args.preset in ("cpu", "quick"):
        settings = [("vae", 32, 1, 144, SMALL_ARCH), ("vae", 32, 8, 144, SMALL_ARCH)]
        if args.preset == "quick":
            settings = settings[1:]
    elif args.preset == "boxes":
        settings = [(k, box, 8, 64, SMALL_ARCH if k == "vae" else ["--dim", "256", "--layers", "3"])
                    for box in (32, 64, 128) for k in ("vae", "nn")]
    else:
        settings = [(k, box, b, 1008, PAPER_ARCH if k == "vae" else ["--dim", "256", "--layers", "3"])
                    for box in (64, 128) for k, b in (("vae", 1), ("vae", 8), ("nn", 1))]
    print(f"{'setting':32s} {'epoch s':>8s} {'part/s':>8s} {'ref s':>6s} {'speed-up':>8s} {'peak MB':>8s}  "
          f"after {args.epochs} epochs",
          flush=True)
    for kind, box, batch, n, arch in settings:
        data = make_data(root, n, box, classes=2 if kind == "vae" else 1)
        out = root / f"{kind}_{box}_b{batch}"
        r = run(kind, data["warp"], out, batch, args.epochs, arch, amp, args.device)
        # the anchors are CPU figures for box 32 and H100 figures otherwise: compare like with like only
        ref = REFERENCE.get((kind, box, batch)) if args.preset != "boxes" else None
        q = quality(kind, data, out, args.epochs)
        name = f"train_{kind} box {box} batch {batch} n {n}"
        print(f"{name:32s} {r['epoch_s']:8.2f} {n / r['epoch_s']:8.1f} {ref or float('nan'):6.1f} "
              f"{(ref / r['epoch_s']) if ref else float('nan'):7.1f}x {r['mem_mb']:8.0f}  {q}", flush=True)
        for line in r["fallback"]:
            print(f"  ! {line}", flush=True)
    if not args.no_accuracy:
        from accuracy import accuracy
        device = args.device if args.device != "auto" else ("cuda" if _cuda() else "cpu")
        # the same autocast and compilation as the timed runs: --cpu-amp matters on CPU, --no-amp on GPU
        flags = [f for f in amp if f in ("--cpu-amp" if device == "cpu" else "--no-amp", "--compile", "--cuda-graph",
                                          "--lazy")]
        print(accuracy(device, flags), flush=True)


def _cuda() -> bool:
    import torch
    return torch.cuda.is_available()


if __name__ == "__main__":
    main()
