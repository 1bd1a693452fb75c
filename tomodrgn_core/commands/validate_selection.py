"""tomodrgn validate_selection: back-project a selection (half sets) and compare it with the decoder's map."""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("workdir", help="train_vae output folder")
    p.add_argument("epoch", type=int, help="epoch (0-based; -1: the last saved)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--labels", help="labels.pkl from analyze (one class per particle of the run)")
    g.add_argument("--ind", help="particles to validate: 0-based rows of the run's z file (.pkl/.npy/.txt; the "
                                 "STAR's particle rows unless the run was trained with --ind)")
    p.add_argument("--labels-sel", "--selected-labels", dest="labels_sel", type=int, nargs="+", default=None,
                   help="classes to validate (with --labels)")
    p.add_argument("-o", "--outdir", required=True, help="output folder")
    p.add_argument("--no-random-control", action="store_true",
                   help="skip the random selection of the same size (one back-projection less)")
    p.add_argument("--particles", default=None, help="the run's particles STAR, if moved since training")
    p.add_argument("--datadir", default=None, help="folder holding the image stacks, if not beside the STAR")
    p.add_argument("--seed", type=int, default=0, help="seed of the random control selection")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    p.add_argument("--force", action="store_true", help="write into an output folder that holds a validation")


def main(args) -> None:
    from pathlib import Path

    from ..analysis.runs import load_run
    from ..analysis.selection import indices_from_ind, indices_from_labels
    from ..analysis.validate import validate_selection
    from ..analysis.volumes import volume_maker
    from ..errors import TomoDrgnInputError
    from ..checkpoints import check_device

    out = Path(args.outdir)
    if (out / "summary.json").exists() and not args.force:
        raise TomoDrgnInputError("this folder holds a validation already", path=out, fix="pass --force or another -o")
    if args.labels_sel and not args.labels:
        raise TomoDrgnInputError("--labels-sel needs --labels", fix="add --labels labels.pkl")
    run = load_run(args.workdir, args.epoch)
    n = len(run.z)
    selected = indices_from_labels(args.labels, args.labels_sel, n) if args.labels else indices_from_ind(args.ind, n)
    device = check_device(args.device)
    maker = volume_maker(run.workdir / f"weights.{run.epoch}.pkl", device=str(device))
    s = validate_selection(run, selected, maker, out, device=device, random_control=not args.no_random_control,
                           seed=args.seed, particles=args.particles, datadir=args.datadir)
    print(f"validated {s['n_selected']} of {s['n_particles']} particles: {s['statement']} -> {out / 'summary.json'}")
