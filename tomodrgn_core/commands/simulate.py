"""tomodrgn simulate: a small synthetic tilt-series particle dataset with known classes."""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--outdir", required=True, help="output folder")
    p.add_argument("-n", "--n-particles", type=int, default=200, help="particles")
    p.add_argument("-D", "--box", type=int, default=32, help="box size (px)")
    p.add_argument("--Apix", type=float, default=8.0, help="pixel size (A)")
    p.add_argument("--n-classes", type=int, default=2, help="discrete classes (class k adds k domains)")
    p.add_argument("--continuous", action="store_true", help="add a sliding domain (per-particle motion parameter in [0, 1])")
    p.add_argument("--snr", type=float, default=0.1, help="signal/noise variance at 0 tilt; 0 = noiseless")
    p.add_argument("--structural-snr", type=float, default=None,
                   help="part of the noise added before the CTF (signal/structural-noise variance); default off")
    p.add_argument("--n-tomos", type=int, default=2, help="tomograms (each its own defocus series)")
    p.add_argument("--max-tilt", type=float, default=60.0, help="highest stage tilt (degrees); the scheme is +-max")
    p.add_argument("--tilt-step", type=float, default=3.0, help="tilt increment (degrees), dose-symmetric order")
    p.add_argument("--dose-per-tilt", type=float, default=3.0, help="e/A^2 per tilt")
    p.add_argument("--drop-tilts", type=int, default=0, help="tilts removed at random per particle")
    p.add_argument("--max-shift", type=float, default=0.0,
                   help="max particle offset per axis (px); tilt images get its projection as origin")
    p.add_argument("--clustered-class", type=int, default=None,
                   help="place this class's particles in clusters in each tomogram (others stay uniform)")
    p.add_argument("--n-clusters", type=int, default=3, help="with --clustered-class: clusters per tomogram")
    p.add_argument("--cluster-radius", type=float, default=300.0, help="with --clustered-class: cluster radius (A)")
    p.add_argument("--layout", choices=["warp", "relion5", "both"], default="warp",
                   help="files written: a Warp/M image-series STAR, a RELION 5 optimisation set, or both")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same dataset)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")


def main(args) -> None:
    from ..simulate import simulate_dataset

    out = simulate_dataset(args.outdir, n_particles=args.n_particles, box=args.box, n_classes=args.n_classes,
                           snr=args.snr or None, seed=args.seed, layout=args.layout, overwrite=args.force,
                           pixel_size=args.Apix, max_tilt=args.max_tilt, tilt_step=args.tilt_step,
                           dose_per_tilt=args.dose_per_tilt, drop_tilts=args.drop_tilts,
                           max_shift_px=args.max_shift, continuous=args.continuous,
                           structural_snr=args.structural_snr, n_tomos=args.n_tomos,
                           clustered_class=args.clustered_class, n_clusters=args.n_clusters,
                           cluster_radius=args.cluster_radius)
    for key in ("warp", "relion5"):
        if key in out:
            print(f"{key} particles: {out[key]}")
    print(f"ground truth: {out['labels'].parent} ({len(out['volumes'])} volumes, labels.npy, labels.csv)")
