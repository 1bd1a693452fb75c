"""tomodrgn filter_star: write a particle subset in the SAME format as the input STAR (Warp or RELION 5)."""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="particles STAR (Warp/cryoSRPNT image series, or RELION 5 optimisation set)")
    p.add_argument("--source-software", default="auto", help="auto, warp, cryosrpnt or relion5 (default auto)")
    p.add_argument("--datadir", default=None, help="folder of the image stacks, if not beside the STAR")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--ind", help="particle indices to keep (.pkl/.npy/.txt, 0-based, input order)")
    g.add_argument("--labels", help="labels.pkl from analyze (one cluster number per particle)")
    g.add_argument("--mask", help="boolean selection, one True/False (1/0) per particle (.pkl/.npy/.txt)")
    p.add_argument("--labels-sel", "--selected-labels", dest="labels_sel", type=int, nargs="+", default=None,
                   help="clusters to keep with --labels")
    p.add_argument("--ind-type", choices=["particle"], default="particle",
                   help="indices refer to particles (all their tilt images are kept)")
    p.add_argument("-o", "--output", required=True, help="output STAR (RELION 5: particles STAR; the tomograms "
                                                         "STAR and optimisation set are written beside it)")
    p.add_argument("--relative-paths", action="store_true",
                   help="write relative paths instead of absolute ones: Warp/cryoSRPNT stack names relative to the "
                        "output STAR's folder; RELION 5 stack names and optimisation-set entries relative to "
                        "--project-dir")
    p.add_argument("--project-dir", default=None,
                   help="RELION 5 with --relative-paths: the RELION project folder (where relion runs, holding "
                        "Job/jobNNN/) that the written paths are relative to (default: the current directory)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def main(args) -> None:
    from pathlib import Path

    import numpy as np

    from ..analysis.rundir import write_pickle
    from ..analysis.selection import indices_from_ind, indices_from_labels, indices_from_mask, read_array
    from ..errors import TomoDrgnInputError
    from ..io import load_particles

    ps = load_particles(args.input, args.source_software, args.datadir)
    project = _project_dir(args, ps.source)
    n = ps.n_particles
    if args.ind:
        keep = indices_from_ind(args.ind, n)
    elif args.labels:
        keep = indices_from_labels(args.labels, args.labels_sel, n)
    else:
        keep = indices_from_mask(read_array(args.mask), n, args.mask)
    if args.labels_sel and not args.labels:
        raise TomoDrgnInputError("--labels-sel needs --labels", fix="add --labels labels.pkl")
    if not len(keep):
        raise TomoDrgnInputError("the selection keeps no particles", path=args.ind or args.labels or args.mask,
                                 fix="choose at least one particle")
    written = ps.subset(keep).write(args.output, overwrite=args.overwrite, relative_paths=args.relative_paths,
                                    project_dir=project)
    out = Path(written[0])
    stem = out.name[:-len(".star")] if out.name.endswith(".star") else out.name
    ind_pkl = write_pickle(out.with_name(f"{stem}_ind.pkl"), keep.astype(np.int64))
    np.savetxt(out.with_name(f"{stem}_ind.txt"), keep, fmt="%d")
    print(f"kept {len(keep)} of {n} particles -> {', '.join(map(str, written))} (indices: {ind_pkl})")


def _project_dir(args, source: str):
    """The folder RELION 5 relative paths start from (cwd unless given; None for other formats); refuses
    --project-dir where it would be ignored."""
    from pathlib import Path

    from ..errors import TomoDrgnInputError

    if args.project_dir is None:
        return Path.cwd() if source == "relion5" else None
    if source != "relion5":
        raise TomoDrgnInputError(f"--project-dir is for RELION 5 input; this is {source}, whose relative paths are "
                                 "written relative to the output STAR's folder", path=args.input,
                                 fix="drop --project-dir")
    if not args.relative_paths:
        raise TomoDrgnInputError("--project-dir only matters with --relative-paths (paths are absolute otherwise)",
                                 fix="add --relative-paths, or drop --project-dir")
    if not Path(args.project_dir).is_dir():
        raise TomoDrgnInputError("--project-dir is not an existing folder", path=args.project_dir,
                                 fix="pass the RELION project folder (the one holding the Job/jobNNN/ folders)")
    return Path(args.project_dir)
