"""tomodrgn eval_vol: volumes from a trained model at given latent values."""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", required=True, help="weights.<epoch>.pkl, or the training folder")
    p.add_argument("--epoch", type=int, default=-1, help="with a training folder: which epoch (default: the last)")
    p.add_argument("--config", default=None, help="config.yaml (accepted for compatibility; read from weights)")
    p.add_argument("-o", "--outdir", required=True, help="output folder (or .mrc path for a single volume)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("-z", type=float, nargs="+", help="one latent point (zdim values)")
    g.add_argument("--zfile", help="text/npy/pkl file of latent points, one per row")
    p.add_argument("--Apix", type=float, default=None, help="pixel size to write (default: from training)")
    p.add_argument("-d", "--downsample", type=int, default=None, help="Fourier-crop volumes to this box")
    p.add_argument("--flip", action="store_true", help="mirror along z (change hand)")
    p.add_argument("--invert", action="store_true", help="invert contrast")
    p.add_argument("--prefix", default="vol_", help="file name prefix")
    p.add_argument("--device", default=None,
                   help="torch device: cpu, cuda or cuda:N (default: the first GPU if there is one, else cpu)")


def main(args) -> None:
    from pathlib import Path

    from ..analysis.rundir import read_z
    from ..errors import TomoDrgnInputError
    from ..evaluation import check_volume_args, generate_volumes, load_model, volume_pixel_size, write_volumes

    model, cfg = load_model(args.weights, epoch=args.epoch, device=args.device)
    check_volume_args(cfg, args.downsample, args.Apix)
    z, zdim = None, cfg["model"]["zdim"]
    if zdim:
        if args.z and len(args.z) != zdim:
            raise TomoDrgnInputError(f"-z has {len(args.z)} value(s), the model's zdim is {zdim}",
                                     path=args.weights, fix=f"give {zdim} numbers after -z")
        z = read_z(args.zfile, zdim=zdim) if args.zfile else ([args.z] if args.z else None)
    elif args.z or args.zfile:
        # a homogeneous model would write its one volume and silently drop every z row
        given = "--zfile" if args.zfile else "-z"
        raise TomoDrgnInputError(f"{given} given, but this is a homogeneous (train_nn) model: it takes no latent "
                                 "values", path=args.weights, fix=f"drop {given}, or give --weights from train_vae")
    vols = generate_volumes(model, cfg, z, box=args.downsample, flip=args.flip, invert=args.invert)
    apix = args.Apix or volume_pixel_size(cfg, args.downsample)
    out = Path(args.outdir)
    paths = write_volumes(vols, [out] if out.suffix == ".mrc" and len(vols) == 1 else out, apix, args.prefix)
    print(f"wrote {len(paths)} volume(s) at {apix:.4g} A/px: {paths[0]}{' ...' if len(paths) > 1 else ''}")
