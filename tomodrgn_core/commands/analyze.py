"""tomodrgn analyze: PCA/UMAP/k-means (+GMM) of a VAE epoch's latent space, volumes and plots."""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("workdir", help="train_vae output folder")
    p.add_argument("epoch", type=int, help="epoch to analyse (0-based; -1: the last saved)")
    p.add_argument("-o", "--outdir", default=None, help="output folder (default: WORKDIR/analyze.EPOCH)")
    p.add_argument("--ksample", type=_ksample, default=20,
                   help="number of k-means clusters / volumes, at most the number of particles, or 'auto': chosen "
                        "by silhouette, Davies-Bouldin and GMM BIC over --k-range, classes at least 2 posterior sd "
                        "apart (k_selection.csv/.png; 1 when no cluster structure is found) (default 20)")
    p.add_argument("--k-range", type=int, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="with --ksample auto: the k tried (default 2 12; k = 1 is always tested)")
    p.add_argument("--gmm", action="store_true", help="also cluster with a Gaussian mixture (gmmK/)")
    p.add_argument("--pc", type=int, default=None,
                   help="number of PCs to traverse, 1..zdim (default 2, or zdim if smaller; 0: none)")
    p.add_argument("--n-per-pc", type=int, default=10, help="volumes per PC traversal (default 10)")
    p.add_argument("--skip-umap", action="store_true", help="skip UMAP (faster)")
    p.add_argument("--skip-vol", action="store_true", help="skip volume generation")
    p.add_argument("--Apix", type=float, default=None, help="pixel size to write (default: from training)")
    p.add_argument("-d", "--downsample", type=int, default=None, help="Fourier-crop volumes to this box")
    p.add_argument("--flip", action="store_true", help="mirror volumes along z (change hand)")
    p.add_argument("--invert", action="store_true", help="invert volume contrast")
    p.add_argument("--seed", type=int, default=0, help="seed for k-means/GMM/UMAP")
    p.add_argument("--ground-truth", default=None, metavar="LABELS",
                   help="known class per particle (.npy/.pkl/.txt, input order), e.g. a simulation's labels.npy: "
                        "writes ground_truth.json (adjusted Rand index) and confusion_matrix.csv/.png in each "
                        "clustering folder (kmeansK/, gmmK/)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)")


def _ksample(text: str):
    """--ksample: a whole number, or 'auto'."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is neither a number of clusters nor 'auto'") from None


def main(args) -> None:
    from pathlib import Path

    import numpy as np

    from ..analysis.analyze import analyze_latent, check_analyze_args, read_particle_rows, PARTICLE_ROWS
    from ..analysis.notebook import write_notebook
    from ..analysis.rundir import load_logvar, load_z, read_config, read_losses, resolve_epoch
    from ..analysis.selection import read_array
    from ..analysis.volumes import volume_maker
    from ..errors import TomoDrgnInputError

    workdir = Path(args.workdir)
    if (workdir / "config.yaml").is_file() and not (read_config(workdir).get("model") or {}).get("zdim"):
        raise TomoDrgnInputError("this is a train_nn (homogeneous) run: it has no latent space", path=workdir,
                                 fix="give the -o folder of train_vae (use convergence_nn for train_nn runs)")
    epoch = resolve_epoch(workdir, args.epoch)
    z = load_z(workdir, epoch)  # checked against config.yaml: zdim and particle count
    z_path = workdir / f"z.{epoch}.train.pkl"
    if args.k_range is not None and args.ksample != "auto":
        raise TomoDrgnInputError(f"--k-range is for --ksample auto, not --ksample {args.ksample}",
                                 fix="drop --k-range, or use --ksample auto")
    if args.ksample == "auto":  # before the model is loaded
        from ..analysis.kselect import check_k_range
        check_k_range(args.k_range, len(z), args.k_range is not None, z_path)
    check_analyze_args(z, 1 if args.ksample == "auto" else args.ksample, args.pc, z_path)
    # a run trained with --ind: z row i is STAR particle star_rows[i], not i (the notebook selects by it)
    star_rows = read_particle_rows(workdir, len(z))
    truth = None
    if args.ground_truth:  # checked before any volume work so a wrong file fails at once
        truth = read_array(args.ground_truth)
        if len(truth) != len(z) or np.any(truth != np.round(truth)):
            fix = "give one integer class per particle, in input order" + ("" if star_rows is None else
                  f" of the trained subset (labels[i] for each row i of {workdir / PARTICLE_ROWS})")
            raise TomoDrgnInputError(f"ground truth has {len(truth)} entries for {len(z)} particles (integers needed)",
                                     path=args.ground_truth, fix=fix)
        truth = truth.astype(np.int64)
    out = Path(args.outdir or workdir / f"analyze.{epoch}")
    maker = None if args.skip_vol else volume_maker(workdir / f"weights.{epoch}.pkl", device=args.device,
                                                   downsample=args.downsample, Apix=args.Apix, flip=args.flip,
                                                   invert=args.invert)
    s = analyze_latent(z, out, args.ksample, maker, args.skip_umap, args.gmm, args.pc, args.n_per_pc,
                       losses=read_losses(workdir), seed=args.seed, truth=truth, z_path=z_path,
                       star_rows=star_rows, k_range=args.k_range, logvar=load_logvar(workdir, epoch, len(z)))
    data = (read_config(workdir).get("dataset") or {}) if (workdir / "config.yaml").is_file() else {}
    if data.get("particles"):  # the notebook needs the run's particles STAR
        write_notebook(out, epoch, f"kmeans{s['ksample']}", data["particles"], data.get("source_software"),
                       data.get("datadir"), subset=star_rows is not None)
    ari = "" if truth is None else ", ARI " + ", ".join(f"{k} {v:.3f}" for k, v in s["ari"].items())
    gt = "" if truth is None else f" (ground truth: {', '.join(str(out / p) for p in s['ground_truth_json'].values())})"
    auto = f" (automatic: {s['k_selection']['reason']})" if "k_selection" in s else ""
    clusters = f"{s['ksample']} cluster" + ("s" if s["ksample"] != 1 else "")
    print(f"analyzed epoch {epoch}: {s['n_particles']} particles, zdim {s['zdim']}, {clusters}{auto} "
          f"(sizes {s['kmeans_sizes']}){ari} -> {out}{gt}")
