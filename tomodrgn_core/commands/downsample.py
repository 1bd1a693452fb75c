"""tomodrgn downsample: Fourier-crop particle tilt images to a smaller box (new image-series STAR)."""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("particles", help="input STAR (Warp/M image series, RELION 5 optimisation set, ...)")
    p.add_argument("-D", "--downsample", type=int, required=True, help="new box size in pixels (even, < input box)")
    p.add_argument("-o", "--output", required=True, help="output image-series STAR (a .mrcs is written beside it)")
    p.add_argument("--source-software", default="auto", help="auto|warp|cryosrpnt|relion5")
    p.add_argument("--datadir", default=None, help="folder holding the image stacks, if not beside the STAR")
    p.add_argument("-b", "--batch-size", type=int, default=4096, help="tilt images per chunk")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")


def main(args) -> None:
    import numpy as np

    from ..errors import TomoDrgnInputError
    from ..io import load_particles, schema as S, write_image_series
    from ..physics.resample import fourier_crop_2d

    ps = load_particles(args.particles, args.source_software, args.datadir)
    D, d = ps.box, args.downsample
    if d % 2 or not 0 < d < D:
        raise TomoDrgnInputError(f"--downsample {d} must be even and smaller than the box ({D} px)",
                                 path=args.particles, fix=f"choose an even size below {D}")
    n = len(ps.table)
    out = np.empty((n, d, d), dtype=np.float32)
    for start in range(0, n, args.batch_size):
        rows = np.arange(start, min(n, start + args.batch_size))
        out[rows] = fourier_crop_2d(ps.images(rows), d)
    table = ps.table.copy()
    table[S.PIXEL_SIZE] = ps.pixel_size * D / d
    table[S.BOX] = d
    path = write_image_series(table, out, args.output, overwrite=args.force)
    print(f"wrote {ps.n_particles} particles, {n} tilt images at box {d} ({ps.pixel_size * D / d:.4g} A/px) to {path}")
