"""tomodrgn train_vae: train the tilt-series VAE (heterogeneous reconstruction)."""
import argparse

from ._train_args import add_common, check_args, set_threads


def add_args(p: argparse.ArgumentParser) -> None:
    add_common(p, default_dec_dim=256)
    p.add_argument("--zdim", type=int, default=128, help="latent dimension")
    p.add_argument("--enc-dim-A", type=int, default=256, help="width of encoder A (applied to each tilt image)")
    p.add_argument("--enc-layers-A", type=int, default=3, help="hidden layers of encoder A")
    p.add_argument("--out-dim-A", type=int, default=128, help="intermediate (per-tilt) encoding size")
    p.add_argument("--enc-dim-B", type=int, default=256, help="width of encoder B (pooled tilts -> z)")
    p.add_argument("--enc-layers-B", type=int, default=3, help="hidden layers of encoder B")
    p.add_argument("--pooling-function", default="concatenate",
                   choices=["concatenate", "max", "mean", "median", "set_encoder"],
                   help="how the per-tilt encodings are combined")
    p.add_argument("--beta", type=float, default=None,
                   help="KLD weight (default 1/zdim, scaled by 1/(D^2 ntilts)); the KLD target with --beta-control")
    p.add_argument("--beta-control", type=float, default=None,
                   help="KL-controlled VAE gamma: penalise gamma * (beta - KLD)^2 instead of beta * KLD")
    p.add_argument("--beta-schedule", default="constant", choices=["constant", "linear", "cyclical"],
                   help="KLD weight over training: constant, linear warm-up, or cyclical annealing")
    p.add_argument("--beta-schedule-epochs", type=int, default=10,
                   help="warm-up length (linear) or cycle length (cyclical) in epochs")


def main(args) -> None:
    check_args(args)  # before any data is read, and before --multigpu workers (their errors are tracebacks)
    set_threads(args)
    if args.multigpu:
        from ..train.ddp import launch
        return launch(args, zdim=args.zdim)
    from ..train import train
    train(args, zdim=args.zdim)
