"""tomodrgn spatial_stats: classes in their tomograms (composition, nearest neighbours, clustering vs shuffled)."""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("particles", help="particles STAR with tomogram coordinates (Warp image series with "
                                     "rlnCoordinate*/rlnCenteredCoordinate*Angst, or a RELION 5 optimisation set)")
    p.add_argument("--labels", required=True,
                   help="one class per particle of this STAR (.pkl/.npy/.txt), e.g. analyze's kmeansK/labels.pkl; "
                        "with --ind also one per --ind entry, in its order")
    p.add_argument("-o", "--outdir", required=True, help="output folder")
    p.add_argument("--ind", default=None, help="only these particles (0-based STAR rows, .pkl/.npy/.txt)")
    p.add_argument("--n-shuffles", type=int, default=500, help="label shuffles of the clustering test")
    p.add_argument("--source-software", default="auto", help="auto|warp|cryosrpnt|relion5")
    p.add_argument("--datadir", default=None, help="folder holding the image stacks, if not beside the STAR")
    p.add_argument("--seed", type=int, default=0, help="seed of the shuffles")
    p.add_argument("--force", action="store_true", help="write into an output folder that holds results")


def main(args) -> None:
    from pathlib import Path

    import numpy as np

    from ..analysis.chimerax import placements
    from ..analysis.selection import indices_from_ind, read_array
    from ..analysis.spatial import spatial_stats
    from ..errors import TomoDrgnInputError
    from ..io import load_particles

    out = Path(args.outdir)
    if (out / "summary.json").exists() and not args.force:
        raise TomoDrgnInputError("this folder holds spatial statistics already", path=out,
                                 fix="pass --force or another -o")
    if args.n_shuffles < 1:
        raise TomoDrgnInputError(f"--n-shuffles {args.n_shuffles}: at least 1", fix="e.g. --n-shuffles 500")
    ps = load_particles(args.particles, args.source_software, args.datadir)
    n = ps.n_particles
    keep = indices_from_ind(args.ind, n) if args.ind else np.arange(n)
    labels = read_array(args.labels)
    if args.ind and len(labels) != n and len(labels) == len(keep):  # one label per --ind entry, in its order
        raw = read_array(args.ind)  # a True/False mask lists the kept particles in STAR order already
        labels = labels if raw.dtype == bool else labels[np.argsort(raw.astype(np.int64))]
    elif len(labels) == n:
        labels = labels[keep]
    else:
        per_ind = f" or {len(keep)} (--ind)" if args.ind else ""
        raise TomoDrgnInputError(f"labels file has {len(labels)} entries for {n} particles{per_ind}", path=args.labels,
                                 fix="give one class per particle of this STAR (for a run trained with --ind, "
                                     "filter_star the STAR with the same --ind first)")
    if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
        raise TomoDrgnInputError("labels must be whole class numbers", path=args.labels,
                                 fix="give analyze's kmeansK/labels.pkl or one integer class per particle")
    place = placements(ps).iloc[keep].reset_index(drop=True)  # one line naming a particle without coordinates
    s = spatial_stats(place, labels.astype(np.int64), out, args.n_shuffles, args.seed)
    for row in s["clustering"]:
        med = row.get("median_nn_same_class_A")
        shuf = row.get("shuffled_median_A")
        detail = f": median same-class NN {med:.4g} A vs {shuf:.4g} A shuffled (p_clustered {row['p_clustered']:.3g})" \
            if shuf is not None else ""
        print(f"class {row['class']} ({row['n']} particles) {row['verdict']}{detail}")
    print(f"{s['n_particles']} particles in {s['n_tomograms']} tomograms -> {out}")
