"""tomodrgn compare_runs: do two runs on the same particles agree? ARI, matched classes, FSC of class volumes."""
import argparse

from .analyze import _ksample


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("workdir_a", help="train_vae output folder of run A")
    p.add_argument("epoch_a", type=int, help="epoch of run A (0-based; -1: the last saved)")
    p.add_argument("workdir_b", help="train_vae output folder of run B (same particles: another seed, or an "
                                     "overlapping --ind subset)")
    p.add_argument("epoch_b", type=int, help="epoch of run B (0-based; -1: the last saved)")
    p.add_argument("-o", "--outdir", required=True, help="output folder")
    p.add_argument("--ksample", type=_ksample, default="auto",
                   help="k-means clusters per run, or 'auto': chosen per run as analyze --ksample auto (default auto)")
    p.add_argument("--k-range", type=int, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="with --ksample auto: the k tried (default 2 12)")
    p.add_argument("--skip-vol", action="store_true", help="no class volumes, no FSC (labels and ARI only)")
    p.add_argument("-d", "--downsample", type=int, default=None, help="Fourier-crop the class volumes to this box")
    p.add_argument("--particles-a", default=None, help="run A's particles STAR, if moved since training")
    p.add_argument("--particles-b", default=None, help="run B's particles STAR, if moved since training")
    p.add_argument("--datadir", default=None, help="folder holding the image stacks, if not beside the STAR")
    p.add_argument("--seed", type=int, default=0, help="seed for k-means and the k selection")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    p.add_argument("--force", action="store_true", help="write into an existing output folder")


def main(args) -> None:
    from pathlib import Path

    from ..analysis.compare import compare_runs
    from ..analysis.runs import load_run
    from ..analysis.volumes import volume_maker
    from ..errors import TomoDrgnInputError

    out = Path(args.outdir)
    if (out / "summary.json").exists() and not args.force:
        raise TomoDrgnInputError("this folder holds a comparison already", path=out, fix="pass --force or another -o")
    if args.k_range is not None and args.ksample != "auto":
        raise TomoDrgnInputError(f"--k-range is for --ksample auto, not --ksample {args.ksample}",
                                 fix="drop --k-range, or use --ksample auto")
    if args.ksample != "auto" and args.ksample < 1:
        raise TomoDrgnInputError(f"--ksample {args.ksample}: at least one cluster is needed", fix="e.g. --ksample 2")
    run_a, run_b = load_run(args.workdir_a, args.epoch_a), load_run(args.workdir_b, args.epoch_b)
    makers = None
    if not args.skip_vol:
        makers = tuple(volume_maker(r.workdir / f"weights.{r.epoch}.pkl", device=args.device,
                                    downsample=args.downsample) for r in (run_a, run_b))
    s = compare_runs(run_a, run_b, out, args.ksample, args.k_range, args.seed, makers, star_a=args.particles_a,
                     star_b=args.particles_b, datadir=args.datadir)
    fsc = "; ".join(f"A{f['class_a']}/B{f['class_b']} {f['resolution_A']['0.5']:.3g} A at FSC 0.5"
                    for f in s["fsc"][:6])
    print(f"compared {s['n_particles']} particles: k {s['k_a']} (A) and {s['k_b']} (B), ARI {s['ari']:.3f}, "
          f"{100 * s['agreement']:.1f}% keep their class" + (f"; {fsc}" if fsc else "") + f" -> {out / 'summary.json'}")
