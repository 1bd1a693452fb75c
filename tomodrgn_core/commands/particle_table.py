"""tomodrgn particle_table: one CSV row per particle (identity, reference tilt image, coordinate, pose as a
Scipion matrix) + a JSON of the set (source, pixel size, box, resolved STAR files). The Scipion plugin reads these
plain files instead of importing the core (see tomodrgn_core/io/_particle_table.py)."""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="particles STAR (Warp/cryoSRPNT image series, or RELION 5 optimisation set)")
    p.add_argument("--source-software", default="auto", help="auto, warp, cryosrpnt or relion5 (default auto)")
    p.add_argument("--datadir", default=None, help="folder of the image stacks, if not beside the STAR")
    p.add_argument("-o", "--output", required=True, help="output CSV; <stem>.json is written beside it")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def main(args) -> None:
    import json
    from pathlib import Path

    from ..io import load_particles
    from ..io._particle_table import particle_table, set_summary
    from ..io._star import check_writable

    out = Path(args.output)
    summary = out.with_suffix(".json")
    for path in (out, summary):
        check_writable(path, args.overwrite)
    ps = load_particles(args.input, args.source_software, args.datadir)
    out.parent.mkdir(parents=True, exist_ok=True)
    particle_table(ps).to_csv(out, index=False)
    summary.write_text(json.dumps(set_summary(ps), indent=1) + "\n")
    print(f"{ps.n_particles} particles ({ps.source}) -> {out}, {summary}")
