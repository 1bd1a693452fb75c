"""tomodrgn train_nn: train a homogeneous decoder (no latent), i.e. a neural reconstruction."""
import argparse

from ._train_args import add_common, check_args, set_threads


def add_args(p: argparse.ArgumentParser) -> None:
    add_common(p, default_dec_dim=512, default_lr_schedule="cosine")


def main(args) -> None:
    check_args(args)  # before any data is read, and before --multigpu workers (their errors are tracebacks)
    set_threads(args)
    if args.multigpu:
        from ..train.ddp import launch
        return launch(args, zdim=0)
    from ..train import train
    train(args, zdim=0)
