"""tomodrgn subtomo2chimerax: ChimeraX .cxc scripts placing a volume per particle (or per class) in its tomogram.

Placement convention: see tomodrgn_core/analysis/chimerax.py (RELION 5: rlnTomoSubtomogram*/rlnAngle* and
refined centre; Warp: the lowest-tilt image's pose and the coordinate columns).
"""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("starfile", help="particles STAR (Warp image series or RELION 5 optimisation set)")
    p.add_argument("-o", "--outdir", required=True, help="output folder (one <tomo>.cxc per tomogram)")
    p.add_argument("--source-software", default="auto",
                   help="auto|warp|cryosrpnt|relion5: format of the particles STAR (auto: detected from its columns)")
    p.add_argument("--datadir", default=None, help="folder holding the image stacks, if not beside the STAR")
    v = p.add_mutually_exclusive_group(required=True)
    v.add_argument("--vol-path", help="one .mrc shown for every particle")
    v.add_argument("--vols-dir", help="folder of vol_*.mrc: one per particle, or one per class with --labels "
                                      "(e.g. analyze.E/kmeansK)")
    p.add_argument("--labels", default=None, help="labels.pkl: colour (and volume, per class) by cluster")
    p.add_argument("--ind", default=None, help="only these particles (0-based indices, .pkl/.npy/.txt)")
    p.add_argument("--tomoname", default=None, help="only this tomogram (default: every tomogram)")
    p.add_argument("--centered", action="store_true",
                   help="RELION 5: keep RELION's centred coordinates (default: from the tomogram's first voxel)")
    p.add_argument("--coords-offset", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"),
                   help="add this shift (A) to every position")
    p.add_argument("--vol-render-level", type=float, default=None,
                   help="surface level (default: half the 99th percentile of each volume)")


def main(args) -> None:
    from pathlib import Path

    import numpy as np

    from ..analysis.chimerax import class_colors, placements, write_cxc
    from ..analysis.selection import indices_from_ind, read_array
    from ..errors import TomoDrgnInputError
    from ..io import load_particles, read_volume

    ps = load_particles(args.starfile, args.source_software, args.datadir)
    n = ps.n_particles
    place = placements(ps, args.centered, args.coords_offset)
    labels = None
    if args.labels:
        labels = read_array(args.labels).astype(np.int64)
        if len(labels) != n:
            raise TomoDrgnInputError(f"labels file has {len(labels)} entries for {n} particles", path=args.labels,
                                     fix="use labels.pkl of a run trained on this STAR file")
    if args.vol_path:
        vols = [Path(args.vol_path)] * n
    else:
        files = sorted(Path(args.vols_dir).glob("vol_*.mrc"))
        n_classes = int(labels.max()) + 1 if labels is not None and len(labels) else 0
        if labels is not None and len(files) == n_classes:
            vols = [files[k] for k in labels]
        elif len(files) == n:
            vols = files
        elif labels is not None:
            # e.g. analyze.E/pc1 (10 volumes along a PC) with kmeans2 labels: vol_000/001 are not the classes
            raise TomoDrgnInputError(f"{len(files)} vol_*.mrc files but the labels have {n_classes} classes "
                                     f"(and there are {n} particles)", path=args.vols_dir,
                                     fix="point --vols-dir at the kmeansK folder of the same analysis as --labels "
                                         "(one volume per class)")
        else:
            raise TomoDrgnInputError(f"{len(files)} vol_*.mrc files for {n} particles", path=args.vols_dir,
                                     fix="give one volume per particle, or one per class together with --labels")
    keep = indices_from_ind(args.ind, n) if args.ind else np.arange(n)
    if args.tomoname:
        in_tomo = np.flatnonzero(place["tomo_id"].to_numpy() == args.tomoname)
        if not len(in_tomo):
            raise TomoDrgnInputError(f"no particle in tomogram '{args.tomoname}'", path=args.starfile,
                                     fix=f"choose among {sorted(set(place['tomo_id']))}")
        keep = np.intersect1d(keep, in_tomo)
    colors = class_colors(labels, n)
    cache = {}
    for p in set(vols[i] for i in keep):
        vol, apix = read_volume(p)
        level = args.vol_render_level if args.vol_render_level is not None else 0.5 * float(np.percentile(vol, 99))
        cache[p] = (vol.shape[-1], apix, level)
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    place.assign(label=-1 if labels is None else labels).iloc[keep].to_csv(out / "placements.csv", index=False,
                                                                          float_format="%.6g")
    for tomo in dict.fromkeys(place["tomo_id"].to_numpy()[keep]):
        sel = keep[place["tomo_id"].to_numpy()[keep] == tomo]
        box, apix = cache[vols[sel[0]]][:2]
        path = write_cxc(out / f"{Path(str(tomo)).stem}.cxc", place.iloc[sel], [vols[i] for i in sel],
                         [colors[i] for i in sel], box, apix, [cache[vols[i]][2] for i in sel])
        print(f"{tomo}: {len(sel)} particles -> {path}")
