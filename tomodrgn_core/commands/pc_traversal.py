"""tomodrgn pc_traversal: latent points (and volumes) along principal components of z."""
import argparse

from ..analysis.cli_volume_args import add_volume_args


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("zfile", help="z.<epoch>.train.pkl (or .npy/.txt) latent means")
    p.add_argument("-o", "--outdir", required=True, help="output folder (pc<dim>/ per PC inside)")
    p.add_argument("--dim", type=int, nargs="+", default=[1], help="1-based PC(s) to traverse, 1..zdim (default 1)")
    p.add_argument("-n", type=int, default=10, help="points per traversal (default 10)")
    p.add_argument("--lim", type=float, nargs=2, default=(5.0, 95.0), metavar=("MIN", "MAX"),
                   help="percentiles of the particles' PC values to span (default 5 95)")
    p.add_argument("--use-percentile-spacing", action="store_true",
                   help="space points by equal particle percentiles instead of equal PC steps")
    add_volume_args(p)


def main(args) -> None:
    from pathlib import Path

    import numpy as np

    from ..analysis import plots
    from ..analysis.latent import run_pca
    from ..analysis.rundir import check_z, read_z
    from ..analysis.trajectories import check_pcs, pc_traversal
    from ..analysis.cli_volume_args import maker_from_args
    from ..errors import TomoDrgnInputError

    lo, hi = args.lim
    if not 0 <= lo < hi <= 100:
        raise TomoDrgnInputError(f"--lim {lo:g} {hi:g}: percentiles must rise within 0..100", fix="e.g. --lim 5 95")
    if args.n < 2:
        raise TomoDrgnInputError(f"-n {args.n}: a traversal needs at least 2 points", fix="e.g. -n 10")
    z = read_z(args.zfile)
    check_pcs(z.shape, args.dim, args.zfile, "--dim")  # an error, never a quiet clamp to the last PC
    maker = maker_from_args(args)
    if maker is not None:
        check_z(z, args.zfile, zdim=maker.zdim)  # the z file must fit the model before anything is written
    pca = run_pca(z)
    out = Path(args.outdir)
    for dim in args.dim:
        zs, vals = pc_traversal(pca, dim, args.n, tuple(args.lim), args.use_percentile_spacing)
        folder = out / f"pc{dim}"
        folder.mkdir(parents=True, exist_ok=True)
        np.savetxt(folder / "z_values.txt", zs)
        np.savetxt(folder / "pc_values.txt", vals)
        # PC1 against the traversed PC (PC1 vs PC2 for dim 1 and 2): a traversal along PC3 drawn on
        # PC1/PC2 would be a single dot
        axes = [a for a in (1, max(dim, 2)) if a <= pca.coords.shape[1]]
        path_xy = np.zeros((len(vals), len(axes)))
        path_xy[:, axes.index(dim)] = vals
        labels = plots.pc_labels(pca.explained_variance_ratio, axes) + [""]
        plots.scatter(pca.coords[:, [a - 1 for a in axes]], folder / "z_pca_traversal.png", centers=path_xy,
                      xlabel=labels[0], ylabel=labels[1], title=f"PC{dim} traversal ({args.n} points)")
        n_vol = len(maker.write(zs, folder)) if maker else 0
        print(f"pc{dim}: {len(zs)} points{f', {n_vol} volumes' if n_vol else ''} -> {folder}")
