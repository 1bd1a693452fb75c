"""tomodrgn prepare_image_series: particle tilt-image series from whole tilt series described in a JSON file (what
the Scipion plugin's "tomoDRGN prepare image series" writes; format in tomodrgn_core/tiltseries/_spec.py).
For IMOD files (.tlt/.xf, coordinates) use ``tomodrgn extract_particles``."""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="JSON: tilt series (stack, angles, alignment, dose, defocus) and their particles")
    p.add_argument("-D", "--box", type=int, required=True, help="box (px at the tilt-series pixel size)")
    p.add_argument("--bin", type=int, default=1, help="Fourier-crop the boxes by this factor")
    p.add_argument("--no-invert", action="store_true", help="the tilt series already have white protein")
    p.add_argument("--no-normalise", action="store_true", help="skip background normalisation")
    p.add_argument("--defocus-hand", type=float, default=0.0, choices=[0.0, 1.0, -1.0],
                   help="add hand * particle depth to each tilt's defocus (0 = off)")
    p.add_argument("-o", "--output", required=True, help="output image-series STAR (.mrcs written beside it)")
    p.add_argument("--table", help="also write the particle table (CSV + JSON, as tomodrgn particle_table) here")
    p.add_argument("--force", action="store_true", help="overwrite existing files")


def main(args) -> None:
    import json
    from pathlib import Path

    from ..io import load_particles
    from ..io._particle_table import particle_table, set_summary
    from ..io._star import check_writable, note_input
    from ..tiltseries import prepare_image_series
    from ..tiltseries._spec import tomograms_from_spec

    note_input(args.spec)
    if args.table:
        for path in (Path(args.table), Path(args.table).with_suffix(".json")):
            check_writable(path, args.force)
    given = {}
    tomos, acq = tomograms_from_spec(args.spec, given)
    rep = prepare_image_series(tomos, args.box, args.output, binning=args.bin, invert=not args.no_invert,
                               normalise=not args.no_normalise, defocus_hand=args.defocus_hand,
                               overwrite=args.force, **acq)
    print(f"{rep.n_particles} particles, {rep.n_images} tilt images -> {rep.star}; {rep.dropped_tilts} tilt boxes "
          f"outside their image dropped" + (f"; no tilt left for {len(rep.dropped_particles)} particles (ids "
                                             f"{', '.join(rep.dropped_particles[:10])})" if rep.dropped_particles
                                             else ""))
    if args.table:
        import numpy as np
        from ..io._particle_table import MATRIX_COLUMNS
        from ..physics._geometry import scipion_matrix

        ps = load_particles(rep.star, "warp")
        table = particle_table(ps)
        # each particle's own pose, offset and coordinate as the input gave them (not the 0-degree tilt's pose),
        # in px of the written particles
        A, offset, coord = (np.array([given[str(i)][k] for i in table["particle_id"]]) for k in range(3))
        table[MATRIX_COLUMNS] = scipion_matrix(A, offset / ps.pixel_size)[:, :3, :].reshape(len(table), 12)
        table[["coord_x_px", "coord_y_px", "coord_z_px"]] = coord / ps.pixel_size
        table.to_csv(args.table, index=False)
        Path(args.table).with_suffix(".json").write_text(json.dumps(set_summary(ps), indent=1) + "\n")
