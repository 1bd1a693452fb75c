"""tomodrgn extract_particles: particle tilt-image series from a whole tilt series and 3D coordinates.

Inputs are plain files (IMOD-style): the raw tilt stack, its tilt angles (.tlt), alignment (.xf, raw -> aligned;
identity if omitted, then --tilt-axis gives the in-plane axis), per-tilt cumulative dose and defocus, and a
coordinates file with one particle per line: x y z (tomogram px at the tilt-series pixel size) and optionally
RELION rot tilt psi (deg). Geometry convention: tomodrgn_core/tiltseries/_geometry.py (RELION 5's).
"""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("stack", help="tilt series (.mrc/.mrcs/.st), one image per tilt")
    p.add_argument("--tlt", required=True, help="tilt angles (deg), one per line in stack order")
    p.add_argument("--coords", required=True, help="x y z [rot tilt psi] per line, px (see --tomo-size)")
    p.add_argument("--tomo-size", type=float, nargs=3, metavar=("X", "Y", "Z"),
                   help="tomogram size (px): coordinates are then corner-origin (IMOD/RELION) and get centred; "
                        "without it they are taken as centred on the tomogram (Scipion)")
    p.add_argument("--xf", help="IMOD .xf alignment, raw -> aligned, one line per tilt")
    p.add_argument("--tilt-axis", type=float, default=0.0, help="tilt-axis angle (deg, ccw from y) when no --xf")
    p.add_argument("--dose", help="cumulative dose before each tilt (e/A^2), one per line")
    p.add_argument("--dose-per-tilt", type=float, default=0.0,
                   help="without --dose: dose per tilt, exposures in dose-symmetric order from the lowest tilt")
    p.add_argument("--defocus", help="defocus per tilt: 'U' or 'U V angle' (A, A, deg) per line")
    p.add_argument("--default-defocus", type=float, default=25000.0, help="A, when no --defocus")
    p.add_argument("--defocus-hand", type=float, default=0.0, choices=[0.0, 1.0, -1.0],
                   help="add hand * particle depth to each tilt's defocus (0 = off)")
    p.add_argument("--Apix", type=float, help="tilt-series pixel size (A); default: from the stack header")
    p.add_argument("-D", "--box", type=int, required=True, help="box (px at the tilt-series pixel size)")
    p.add_argument("--bin", type=int, default=1, help="Fourier-crop the boxes by this factor")
    p.add_argument("--no-invert", action="store_true", help="the stack already has white protein")
    p.add_argument("--no-normalise", action="store_true", help="skip background normalisation")
    p.add_argument("--tomo-id", help="tomogram name (default: the stack's file stem)")
    p.add_argument("--kv", type=float, default=300.0)
    p.add_argument("--cs", type=float, default=2.7)
    p.add_argument("-w", "--amp-contrast", type=float, default=0.1)
    p.add_argument("-o", "--output", required=True, help="output image-series STAR (.mrcs written beside it)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")


def _dose_symmetric(tilts):
    """Cumulative dose index of each tilt when acquisition starts at the lowest |tilt| and alternates sides."""
    import numpy as np
    order = np.lexsort((np.sign(tilts), np.abs(np.round(tilts, 3))))
    rank = np.empty(len(tilts), int)
    rank[order] = np.arange(len(tilts))
    return rank


def main(args) -> None:
    from pathlib import Path

    import mrcfile
    import numpy as np

    from ..errors import TomoDrgnInputError, one_line
    from ..io._mrc import quiet_mrc
    from ..io._star import note_input
    from ..physics import euler_to_matrix
    from ..tiltseries import TiltGeometry, TomogramParticles, prepare_image_series, transforms_from_axis
    from ..tiltseries._files import check_length, read_columns, read_xf

    if not Path(args.stack).is_file():
        raise TomoDrgnInputError("tilt stack not found", path=args.stack, fix="give the raw tilt series file")
    note_input(args.stack)
    try:
        with quiet_mrc():
            mrc = mrcfile.mmap(args.stack, mode="r", permissive=True)
    except Exception as err:  # noqa: BLE001 - mrcfile raises many types on non-MRC files
        raise TomoDrgnInputError(f"cannot read the tilt stack as MRC ({one_line(err)})", path=args.stack,
                                 fix="give the raw tilt series (.mrc/.st)") from None
    if mrc.data is None or mrc.data.ndim not in (2, 3):
        raise TomoDrgnInputError("not an MRC image stack", path=args.stack, fix="give the raw tilt series (.mrc/.st)")
    stack = mrc.data if mrc.data.ndim == 3 else mrc.data[None]
    nt = stack.shape[0]
    apix = args.Apix or float(mrc.voxel_size.x)
    if not apix or apix <= 0:
        raise TomoDrgnInputError("no pixel size in the stack header", path=args.stack, fix="pass --Apix")
    tilts = check_length(read_columns(args.tlt, 1, "tilt angles", "one angle per line")[:, 0], nt, args.tlt,
                         "tilt angle file")
    xf = check_length(read_xf(args.xf), nt, args.xf, "transform file") if args.xf else \
        transforms_from_axis(args.tilt_axis, n_tilts=nt)
    dose = check_length(read_columns(args.dose, 1, "dose", "one number per line")[:, 0], nt, args.dose, "dose file") \
        if args.dose else _dose_symmetric(tilts) * args.dose_per_tilt
    if args.defocus:
        df = check_length(read_columns(args.defocus, (1, 3), "defocus", "'U' or 'U V angle' per line"), nt,
                          args.defocus, "defocus file")
        dfu, dfv, dfa = (df[:, 0], df[:, 0], np.zeros(nt)) if df.shape[1] == 1 else df.T
    else:
        dfu = dfv = np.full(nt, args.default_defocus)
        dfa = np.zeros(nt)
    coords = read_columns(args.coords, (3, 6), "coordinates", "'x y z' or 'x y z rot tilt psi' per line")
    xyz = coords[:, :3] - (np.asarray(args.tomo_size) / 2 if args.tomo_size else 0.0)
    poses = euler_to_matrix(*coords[:, 3:6].T) if coords.shape[1] == 6 else np.tile(np.eye(3), (len(coords), 1, 1))
    geom = TiltGeometry(tilts, xf, stack.shape[1:], dose, dfu, dfv, dfa, apix)
    tomo = args.tomo_id or Path(args.stack).stem
    rep = prepare_image_series([TomogramParticles(tomo, stack, geom, xyz, poses)], args.box, args.output,
                               binning=args.bin, invert=not args.no_invert, normalise=not args.no_normalise,
                               defocus_hand=args.defocus_hand, voltage=args.kv, cs=args.cs,
                               amp_contrast=args.amp_contrast, overwrite=args.force)
    print(f"{rep.n_particles} particles, {rep.n_images} tilt images -> {rep.star}; {rep.dropped_tilts} tilt boxes "
          f"outside the image dropped" + (f"; no tilt left for {', '.join(rep.dropped_particles)}"
                                           if rep.dropped_particles else ""))
