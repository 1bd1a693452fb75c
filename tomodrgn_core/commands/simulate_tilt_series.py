"""tomodrgn simulate_tilt_series: whole tilt series of simulated tomograms as files other software imports
(tomo's "import tilt-series" from {TS}.mrcs + .tlt, IMOD .xf alignments, per-tilt defocus, empty tomograms,
coordinates as text and as a RELION 5 coordinates STAR), with the ground truth to check what comes back.

Layout of -o DIR (TS_01, TS_02, ... one per tomogram):
  tilt_series/TS_01.mrcs, TS_01.tlt (angle, dose after the tilt, order), TS_01.xf (IMOD raw -> aligned)
  ctf/TS_01.defocus (IMOD ctfplotter: one line per tilt, defocus in nm), ctf/TS_01_defocus.txt (U V angle, A)
  tomograms/TS_01.mrc (zeros: the coordinates' reference), coordinates/TS_01.txt (x y z, px, corner origin),
  coordinates/TS_01.tbl (Dynamo table: picked up to 2 px off the particle, shifts dx dy dz to it, ZXZ angles)
  coordinates/particles.star (RELION 5: rlnCoordinate*, px at the tilt-series sampling, corner origin; the pose split
  into rlnTomoSubtomogram* and rlnAngle*, A = A_sub A_p, as RELION 5 composes it), ground_truth/class_00.mrc ...,
  ground_truth/truth.json (per tomogram: centred coordinates (px), RELION Euler angles, classes; per tilt:
  angle, dose, defocus) and ground_truth/TS_01_direct.npy (each particle's exact, centred tilt images).
"""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--outdir", required=True, help="output folder")
    p.add_argument("--n-tomos", type=int, default=2, help="tomograms (tilt series)")
    p.add_argument("-n", "--n-particles", type=int, default=6, help="particles per tomogram")
    p.add_argument("-D", "--box", type=int, default=24, help="particle box (px)")
    p.add_argument("--Apix", type=float, default=10.0, help="pixel size (A)")
    p.add_argument("--tomo-shape", type=int, nargs=3, default=[256, 256, 40], metavar=("X", "Y", "Z"),
                   help="tomogram size (px)")
    p.add_argument("--max-tilt", type=float, default=45.0, help="highest stage tilt (degrees)")
    p.add_argument("--tilt-step", type=float, default=9.0, help="tilt increment (degrees), dose-symmetric order")
    p.add_argument("--dose-per-tilt", type=float, default=3.0, help="e/A^2 per tilt")
    p.add_argument("--tilt-axis", type=float, default=85.0, help="tilt-axis angle (degrees, ccw from y)")
    p.add_argument("--defocus", type=float, default=20000.0, help="defocus of the first tilt (A); +150 A per tilt")
    p.add_argument("--snr", type=float, default=0.0, help="signal/noise variance; 0 = noiseless")
    p.add_argument("--n-classes", type=int, default=2, help="discrete classes")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--force", action="store_true", help="overwrite existing files")


def main(args) -> None:
    import json
    from pathlib import Path

    import numpy as np

    from ..errors import TomoDrgnInputError
    from ..io import write_volume
    from ..io._star import check_writable, write_star
    from ..physics._geometry import dynamo_angles
    from ..physics._rotations import euler_to_matrix, matrix_to_euler
    from ..tiltseries import simulate_tomogram_tilt_series

    out = Path(args.outdir)
    if out.exists() and any(out.iterdir()) and not args.force:
        raise TomoDrgnInputError("output folder is not empty", path=out, fix="choose a new folder, or pass --force")
    for sub in ("tilt_series", "ctf", "tomograms", "coordinates", "ground_truth"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    X, Y, Z = args.tomo_shape
    truth, star_rows = {"pixel_size": args.Apix, "box": args.box, "tomo_shape": [X, Y, Z], "tomograms": {}}, []
    for k in range(args.n_tomos):
        ts_id = f"TS_{k + 1:02d}"
        nt = int(round(2 * args.max_tilt / args.tilt_step)) + 1
        defoci = args.defocus + 150.0 * np.arange(nt)  # per tilt in tilt-angle (stack) order
        sim = simulate_tomogram_tilt_series(n_particles=args.n_particles, tomo_shape=(X, Y, Z), box=args.box,
                                            pixel_size=args.Apix, n_classes=args.n_classes,
                                            max_tilt=args.max_tilt, tilt_step=args.tilt_step,
                                            dose_per_tilt=args.dose_per_tilt, tilt_axis=args.tilt_axis,
                                            snr=args.snr or None, seed=args.seed + 1 + k, ctf=True, defocus=defoci,
                                            class_seed=args.seed)
        g = sim.geometry
        stack = out / "tilt_series" / f"{ts_id}.mrcs"
        check_writable(stack, args.force)
        import mrcfile
        with mrcfile.new(stack, overwrite=True) as m:
            m.set_data(sim.stack.astype(np.float32))
            m.voxel_size = args.Apix
        # tomo's .tlt columns: angle, dose accumulated after the tilt, acquisition order (1-based)
        order = np.argsort(np.argsort(g.dose)) + 1
        np.savetxt(stack.with_suffix(".tlt"), np.column_stack([g.tilt_angles, g.dose + args.dose_per_tilt, order]),
                   fmt=["%.3f", "%.3f", "%d"])
        xf = np.column_stack([g.transforms[:, 0, :2], g.transforms[:, 1, :2], g.transforms[:, :2, 2]])
        np.savetxt(stack.with_suffix(".xf"), xf, fmt="%.7f")
        # IMOD ctfplotter .defocus (version 2): start end tilt tilt defocus(nm); first line carries the version
        lines = [f"1 1 {g.tilt_angles[0]:.2f} {g.tilt_angles[0]:.2f} {g.defocus_u[0] / 10:.1f} 2"]
        lines += [f"{i + 1} {i + 1} {a:.2f} {a:.2f} {d / 10:.1f}" for i, (a, d) in
                  enumerate(zip(g.tilt_angles, g.defocus_u)) if i > 0]
        (out / "ctf" / f"{ts_id}.defocus").write_text("\n".join(lines) + "\n")
        np.savetxt(out / "ctf" / f"{ts_id}_defocus.txt", np.column_stack([g.defocus_u, g.defocus_v, g.defocus_angle]),
                   fmt="%.2f")
        write_volume(out / "tomograms" / f"{ts_id}.mrc", np.zeros((Z, Y, X), np.float32), args.Apix)
        corner = sim.coords + np.array([X, Y, Z]) / 2.0  # IMOD/RELION pixel coordinates
        np.savetxt(out / "coordinates" / f"{ts_id}.txt", corner, fmt="%.3f")
        ang = matrix_to_euler(sim.poses)
        # RELION 5 composes the pose as A_sub A_p: a random A_p (rlnAngle*) and A_sub = A A_p^T (rlnTomoSubtomogram*)
        A_p = euler_to_matrix(*np.random.default_rng(args.seed + 200 + k).uniform(-180, 180, (3, len(corner))))
        star_rows += [(ts_id, *c, *s_, *p_) for c, s_, p_ in
                      zip(corner, matrix_to_euler(sim.poses @ np.swapaxes(A_p, 1, 2)), matrix_to_euler(A_p))]
        # Dynamo table: picked off-centre, the shift (dx dy dz, px) points from the coordinate to the particle
        shifts = np.random.default_rng(args.seed + 100 + k).uniform(-2.0, 2.0, (len(corner), 3))
        tbl = np.zeros((len(corner), 35))
        tbl[:, 0], tbl[:, 1], tbl[:, 2] = np.arange(1, len(corner) + 1), 1, 1
        tbl[:, 3:6], tbl[:, 6:9] = shifts, dynamo_angles(sim.poses)
        tbl[:, 12], tbl[:, 13], tbl[:, 14] = 1, -args.max_tilt, args.max_tilt
        tbl[:, 19], tbl[:, 20], tbl[:, 21] = k + 1, 1, 1
        tbl[:, 23:26] = corner - shifts
        whole = {0, 1, 2, 10, 11, 12, 19, 20, 21, 22}  # tag, flags, tomogram, region, class...: integers
        np.savetxt(out / "coordinates" / f"{ts_id}.tbl", tbl, fmt=["%d" if c in whole else "%.4f" for c in range(35)])
        np.save(out / "ground_truth" / f"{ts_id}_direct.npy", sim.direct.astype(np.float32))
        truth["tomograms"][ts_id] = {"coords_px": sim.coords.tolist(), "angles": ang.tolist(),
                                     "labels": sim.labels.tolist(), "tilt_angles": g.tilt_angles.tolist(),
                                     "dynamo_shifts": shifts.tolist(),
                                     "dose": g.dose.tolist(), "defocus": g.defocus_u.tolist(),
                                     "transforms": g.transforms.tolist(), "hand": g.hand}
    import pandas as pd
    cols = ["rlnTomoName", "rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ", "rlnTomoSubtomogramRot",
            "rlnTomoSubtomogramTilt", "rlnTomoSubtomogramPsi", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]
    write_star(out / "coordinates" / "particles.star", {"particles": pd.DataFrame(star_rows, columns=cols)},
               overwrite=True)
    for c, vol in enumerate(sim.volumes):
        write_volume(out / "ground_truth" / f"class_{c:02d}.mrc", vol, args.Apix)
    (out / "ground_truth" / "truth.json").write_text(json.dumps(truth))
    print(f"{args.n_tomos} tilt series x {args.n_particles} particles -> {out}")
