"""tomodrgn analyze_volumes: voxel-space PCA (+UMAP) of volumes generated per particle or per k-means sample."""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("workdir", help="train_vae output folder")
    p.add_argument("epoch", type=int, help="epoch (0-based; -1: last saved)")
    p.add_argument("-o", "--outdir", default=None, help="output folder (default WORKDIR/analyze_volumes.EPOCH)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--voldir", default=None, help="analyse existing .mrc volumes in this folder instead")
    src.add_argument("--all-particles", action="store_true", help="one volume per particle (slow for big sets)")
    p.add_argument("--ksample", type=int, default=20, help="volumes at k-means representatives (default 20)")
    p.add_argument("--mask", choices=["none", "sphere", "soft"], default="soft",
                   help="voxels used: none, sphere, or soft (the paper's mask of the mean volume; default)")
    p.add_argument("--mask-path", default=None, help="a mask .mrc (overrides --mask)")
    p.add_argument("--num-pcs", type=int, default=10, help="principal components to keep (default 10)")
    p.add_argument("--skip-umap", action="store_true", help="skip UMAP of the voxel PCs")
    p.add_argument("-d", "--downsample", type=int, default=None, help="Fourier-crop volumes to this box")
    p.add_argument("--flip", action="store_true", help="mirror the generated volumes along z (change hand)")
    p.add_argument("--invert", action="store_true", help="invert the contrast of the generated volumes")
    p.add_argument("--seed", type=int, default=0, help="random seed of k-means and UMAP (reproducible runs)")
    p.add_argument("--device", default=None,
                   help="torch device: cpu, cuda or cuda:N (default: the first GPU if there is one, else cpu)")


def main(args) -> None:
    from pathlib import Path

    import numpy as np

    from ..analysis.rundir import load_z, resolve_epoch
    from ..analysis.volume_space import analyze_volume_space, volumes_for
    from ..analysis.volumes import volume_maker
    from ..errors import TomoDrgnInputError
    from ..io import read_volume

    if args.ksample < 1 and not (args.voldir or args.all_particles):
        raise TomoDrgnInputError(f"--ksample {args.ksample}: at least one volume is needed",
                                 fix="e.g. --ksample 20, or --all-particles")
    epoch = resolve_epoch(args.workdir, args.epoch)
    out = Path(args.outdir or Path(args.workdir) / f"analyze_volumes.{epoch}")
    if args.voldir:
        files = sorted(Path(args.voldir).glob("*.mrc"))
        if len(files) < 2:
            raise TomoDrgnInputError("fewer than two .mrc volumes found", path=args.voldir,
                                     fix="give a folder of volumes, e.g. from eval_vol --zfile")
        read = [read_volume(f) for f in files]
        if len({v.shape for v, _ in read}) > 1:
            raise TomoDrgnInputError("volumes have different boxes", path=args.voldir, fix="use volumes of one box")
        vols, apix, ind, labels = np.stack([v for v, _ in read]), read[0][1], None, None
    else:
        maker = volume_maker(Path(args.workdir) / f"weights.{epoch}.pkl", device=args.device,
                             downsample=args.downsample, flip=args.flip, invert=args.invert)
        vols, ind, labels = volumes_for(load_z(args.workdir, epoch), maker, out,
                                        None if args.all_particles else args.ksample, args.seed)
        apix = maker.pixel_size
    analyze_volume_space(vols, out, apix, ind, labels, args.mask, args.mask_path, args.num_pcs, args.skip_umap,
                         args.seed)
