"""tomodrgn graph_traversal: shortest path through a nearest-neighbour graph of z between anchor particles."""
import argparse

from ..analysis.cli_volume_args import add_volume_args


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("zfile", help="z.<epoch>.train.pkl (or .npy/.txt) latent means")
    p.add_argument("--anchors", type=int, nargs="+", required=True,
                   help="0-based particle indices the path visits in order (e.g. kmeans centers_ind)")
    p.add_argument("-o", "--outdir", required=True, help="output folder")
    p.add_argument("--max-neighbors", type=int, default=10, help="most neighbours per particle (default 10)")
    p.add_argument("--avg-neighbors", type=int, default=5, help="average neighbours per particle (default 5)")
    add_volume_args(p)


def main(args) -> None:
    from pathlib import Path

    import numpy as np

    from ..analysis import plots
    from ..analysis.latent import run_pca
    from ..analysis.rundir import check_z, read_z
    from ..analysis.trajectories import graph_path
    from ..analysis.cli_volume_args import maker_from_args
    from ..errors import TomoDrgnInputError

    if args.avg_neighbors < 1 or args.max_neighbors < args.avg_neighbors:
        raise TomoDrgnInputError(f"--avg-neighbors {args.avg_neighbors} / --max-neighbors {args.max_neighbors}",
                                 fix="use 1 <= --avg-neighbors <= --max-neighbors (defaults 5 and 10)")
    z = read_z(args.zfile)
    if len(z) < 2:
        raise TomoDrgnInputError(f"{len(z)} particle(s) in the latent file: no graph to walk", path=args.zfile,
                                 fix="give the z file of a whole training run")
    maker = maker_from_args(args)
    if maker is not None:
        check_z(z, args.zfile, zdim=maker.zdim)  # before the (slow) path search and any output
    path = graph_path(z, args.anchors, args.avg_neighbors, args.max_neighbors)
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    zs = z[path]
    np.savetxt(out / "path_ind.txt", path, fmt="%d")
    np.savetxt(out / "z_values.txt", zs)
    step = np.r_[0.0, np.linalg.norm(np.diff(zs, axis=0), axis=1)]
    np.savetxt(out / "path_distance.txt", np.cumsum(step))
    pca = run_pca(z)
    pcs = pca.coords[:, :2]
    xlab, ylab = plots.pc_labels(pca.explained_variance_ratio)
    plots.scatter(pcs, out / "z_pca_path.png", centers=pcs[path], xlabel=xlab, ylabel=ylab,
                  title=f"graph path through {len(args.anchors)} anchors ({len(path)} particles)")
    n_vol = len(maker.write(zs, out)) if maker else 0
    print(f"path of {len(path)} particles{f', {n_vol} volumes' if n_vol else ''} -> {out}")
