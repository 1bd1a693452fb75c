"""tomodrgn eval_images: embed particles with a trained encoder (deterministic tilt choice)."""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("particles", help="input STAR")
    p.add_argument("--weights", required=True, help="weights.<epoch>.pkl of a train_vae run, or its training folder")
    p.add_argument("--epoch", type=int, default=-1, help="with a training folder: which epoch (default: the last)")
    p.add_argument("--config", default=None, help="config.yaml (accepted for compatibility; read from weights)")
    p.add_argument("--out-z", required=True, help="output z .pkl (means); a .npz with mu and logvar is written beside it")
    p.add_argument("--source-software", default="auto")
    p.add_argument("--datadir", default=None)
    p.add_argument("-b", "--batch-size", type=int, default=64)
    p.add_argument("--lazy", action="store_true")
    p.add_argument("--device", default=None)


def main(args) -> None:
    import pickle
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
    mu, logvar = embed_particles(model, cfg, ps, args.batch_size, lazy=args.lazy)
    out = Path(args.out_z)
    with open(out, "wb") as f:
        pickle.dump(mu, f)
    np.savez(out.with_suffix(".npz"), mu=mu, logvar=logvar)
    print(f"embedded {len(mu)} particles -> {out}")
