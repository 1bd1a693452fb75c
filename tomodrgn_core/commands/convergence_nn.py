"""tomodrgn convergence_nn: FSC/CC between successive homogeneous reconstructions, loss, verdict."""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("workdir", help="train_nn output folder")
    p.add_argument("--max-epoch", type=int, default=None, help="last epoch to consider (default: last saved)")
    p.add_argument("--epoch-interval", type=int, default=1, help="compare every N-th saved epoch (default 1)")
    p.add_argument("--ref-vol", default=None, help="reference map (.mrc) to compare every epoch against")
    p.add_argument("-o", "--outdir", default=None, help="output folder (default WORKDIR/convergence_nn)")
    p.add_argument("--device", default=None,
                   help="torch device: cpu, cuda or cuda:N (default: the first GPU if there is one, else cpu)")


def main(args) -> None:
    from pathlib import Path

    from ..analysis.convergence_runs import convergence_nn
    from ..analysis.volumes import volume_maker
    from ..errors import TomoDrgnInputError
    from ..io import read_volume

    ref, ref_apix = read_volume(args.ref_vol) if args.ref_vol else (None, None)
    out = Path(args.outdir or Path(args.workdir) / "convergence_nn")

    def maker_for(e):
        return volume_maker(Path(args.workdir) / f"weights.{e}.pkl", device=args.device)

    if not Path(args.workdir).is_dir():
        raise TomoDrgnInputError("training folder not found", path=args.workdir, fix="give the -o folder of train_nn")
    from ..analysis.rundir import read_config
    if (read_config(args.workdir).get("model") or {}).get("zdim"):
        raise TomoDrgnInputError("this is a train_vae run", path=args.workdir,
                                 fix="use tomodrgn convergence_vae for VAE runs")
    s = convergence_nn(args.workdir, out, args.epoch_interval, args.max_epoch, maker_for, ref,
                       ref_pixel_size=ref_apix, ref_path=args.ref_vol)
    print(f"epochs {s['epochs']} -> {out}")
