"""tomodrgn eval_images: embed particles with a trained encoder (deterministic tilt choice)."""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("particles", help="input STAR")
    p.add_argument("--weights", required=True, help="weights.<epoch>.pkl of a train_vae run, or its training folder")
    p.add_argument("--epoch", type=int, default=-1, help="with a training folder: which epoch (default: the last)")
    p.add_argument("--config", default=None, help="config.yaml (accepted for compatibility; read from weights)")
    p.add_argument("--out-z", required=True, help="output z .pkl (means); a .npz with mu and logvar is written beside it")
    p.add_argument("--source-software", default="auto",
                   help="auto|warp|cryosrpnt|relion5: format of the particles STAR (auto: detected from its columns)")
    p.add_argument("--datadir", default=None, help="folder holding the image stacks, if not beside the STAR")
    p.add_argument("-b", "--batch-size", type=int, default=64, help="particles per batch (memory and speed only)")
    p.add_argument("--lazy", action="store_true",
                   help="stream preprocessed images from disk instead of holding them in memory (large sets)")
    p.add_argument("--device", default=None,
                   help="torch device: cpu, cuda or cuda:N (default: the first GPU if there is one, else cpu)")


def _check_output(out) -> None:
    """--out-z must be a file name in a folder that exists or can be made."""
    import os

    from ..errors import TomoDrgnInputError

    if out.is_dir():
        raise TomoDrgnInputError("--out-z is a folder", path=out, fix="give a file name, e.g. z.eval.pkl")
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise TomoDrgnInputError(f"cannot write the --out-z file: {parent} is not a writable folder", path=out,
                                 fix="give --out-z in a folder you can write to")


def main(args) -> None:
    import pickle
    import sys
    from pathlib import Path

    import numpy as np

    from ..errors import TomoDrgnInputError
    from ..evaluation import embed_particles, load_model
    from ..io import load_particles

    model, cfg = load_model(args.weights, epoch=args.epoch, device=args.device)
    if not cfg["model"]["zdim"]:
        raise TomoDrgnInputError("this checkpoint is a homogeneous (train_nn) model: it has no encoder",
                                 path=args.weights, fix="give weights from train_vae")
    ps = load_particles(args.particles, args.source_software, args.datadir)
    if ps.box != cfg["model"]["box"]:
        raise TomoDrgnInputError(f"particles have box {ps.box}, the model was trained at {cfg['model']['box']}",
                                 path=args.particles, fix="downsample the particles to the training box")
    if int(ps.ntilts.min()) < cfg["model"]["ntilts"]:
        raise TomoDrgnInputError(f"some particles have fewer than the model's {cfg['model']['ntilts']} tilts",
                                 path=args.particles, fix="remove particles with too few tilts")
    trained_px = float(cfg["dataset"]["pixel_size"])
    if not np.isclose(ps.pixel_size, trained_px, rtol=1e-3):
        # same box, other sampling: the encoder sees a scaled particle and the embedding means little
        print(f"tomodrgn eval_images: warning: the particles are at {ps.pixel_size:g} A/px, the model was trained "
              f"at {trained_px:g} A/px: their latent values are not comparable with the training set's "
              f"(rescale the particles to {trained_px:g} A/px for a meaningful embedding)",
              file=sys.stderr)
    out = Path(args.out_z)
    _check_output(out)  # before the embedding, which can take a while
    mu, logvar = embed_particles(model, cfg, ps, args.batch_size, lazy=args.lazy)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        pickle.dump(mu, f)
    np.savez(out.with_suffix(".npz"), mu=mu, logvar=logvar)
    print(f"embedded {len(mu)} particles -> {out}")
