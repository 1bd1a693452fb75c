"""tomodrgn convergence_vae: is the VAE still changing? Latent shifts, volumes across epochs, verdict."""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("workdir", help="train_vae output folder")
    p.add_argument("epoch", type=int, nargs="?", default=-1, help="last epoch to consider (default: last saved)")
    p.add_argument("--epoch-interval", type=int, default=5, help="compare every N-th saved epoch (default 5)")
    p.add_argument("-o", "--outdir", default=None, help="output folder (default WORKDIR/convergence.EPOCH)")
    p.add_argument("--final-maxima", "--ksample", dest="n_vols", type=int, default=5,
                   help="particles (k-means representatives of the final epoch) whose volumes are compared")
    p.add_argument("--skip-umap", action="store_true", help="show PCA instead of UMAP per epoch")
    p.add_argument("--skip-volgen", action="store_true", help="skip volume generation and map metrics")
    p.add_argument("-d", "--downsample", type=int, default=None, help="Fourier-crop volumes to this box")
    p.add_argument("--flip", action="store_true", help="mirror volumes along z")
    p.add_argument("--invert", action="store_true", help="invert volume contrast")
    p.add_argument("--random-seed", type=int, default=0, help="seed for k-means/UMAP")
    p.add_argument("--device", default=None)


def main(args) -> None:
    from pathlib import Path

    from ..analysis.convergence_runs import convergence_vae
    from ..analysis.rundir import resolve_epoch
    from ..analysis.volumes import volume_maker
    from ..errors import TomoDrgnInputError
    from ..checkpoints import check_device

    if args.n_vols < 1:
        raise TomoDrgnInputError(f"--final-maxima {args.n_vols}: at least one particle is needed",
                                 fix="e.g. --final-maxima 5")
    device = None if args.skip_volgen else check_device(args.device)  # now, not after the latent comparisons
    final = resolve_epoch(args.workdir, args.epoch)
    out = Path(args.outdir or Path(args.workdir) / f"convergence.{final}")

    def maker_for(e):
        return volume_maker(Path(args.workdir) / f"weights.{e}.pkl", device=device, downsample=args.downsample,
                            flip=args.flip, invert=args.invert)

    s = convergence_vae(args.workdir, out, final, args.epoch_interval, args.n_vols,
                        None if args.skip_volgen else maker_for, args.skip_umap, args.random_seed)
    print(f"epochs {s['epochs']} -> {out}")
