"""Shared flags of commands that generate volumes from a trained model (eval_vol names)."""
import argparse


def add_volume_args(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("--weights", required=required,
                   help="weights.<epoch>.pkl (or the training folder: last epoch); omit to write z values only")
    p.add_argument("--config", default=None, help="config.yaml (accepted for compatibility; read from weights)")
    p.add_argument("--Apix", type=float, default=None, help="pixel size to write (default: from training)")
    p.add_argument("-d", "--downsample", type=int, default=None, help="Fourier-crop volumes to this box")
    p.add_argument("--flip", action="store_true", help="mirror volumes along z (change hand)")
    p.add_argument("--invert", action="store_true", help="invert volume contrast")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)")


def maker_from_args(args):
    """A VolumeMaker, or None when no --weights were given."""
    if not args.weights:
        return None
    from .volumes import volume_maker
    return volume_maker(args.weights, device=args.device, downsample=args.downsample, Apix=args.Apix,
                        flip=args.flip, invert=args.invert)
