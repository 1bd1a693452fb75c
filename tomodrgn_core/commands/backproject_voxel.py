"""tomodrgn backproject_voxel: weighted Fourier back-projection of particle tilt images."""
import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("particles", help="input STAR (Warp/M image series, RELION 5 optimisation set, ...)")
    p.add_argument("-o", "--output", required=True, help="output volume (.mrc)")
    p.add_argument("--source-software", default="auto", help="auto|warp|cryosrpnt|relion5")
    p.add_argument("--datadir", default=None, help="folder holding the image stacks, if not beside the STAR")
    p.add_argument("--uninvert-data", action="store_true", help="do not invert data sign (protein already dark)")
    p.add_argument("--no-ctf", action="store_true", help="ignore the CTF")
    p.add_argument("--recon-dose-weight", action="store_true", help="weight by exposure-dependent attenuation")
    p.add_argument("--recon-tilt-weight", action="store_true", help="weight each tilt by cos(tilt)")
    p.add_argument("--mode", choices=["wiener", "plain"], default="wiener",
                   help="wiener: CTF-corrected (default); plain: CTF-multiplied average, as the reference tomoDRGN")
    p.add_argument("--ind", default=None, help="pickled/npy array of particle indices to use")
    p.add_argument("--device", default="cpu")
    p.add_argument("--force", action="store_true", help="overwrite the output volume")


def main(args) -> None:
    import os

    import numpy as np

    from ..errors import TomoDrgnInputError
    from ..io import load_particles, write_volume
    from ..reconstruct import backproject

    if os.path.exists(args.output) and not args.force:
        raise TomoDrgnInputError("output volume already exists", path=args.output, fix="pass --force or another -o")
    ps = load_particles(args.particles, args.source_software, args.datadir)
    if args.no_ctf:
        print("--no-ctf: the CTF is not applied" if ps.has_ctf else
              "--no-ctf: this STAR has no CTF or exposure columns; no CTF or exposure weighting is applied")
    else:
        ps.require_ctf()
    if args.ind:
        from ..analysis.selection import indices_from_ind
        ps = ps.subset(indices_from_ind(args.ind, ps.n_particles))
    rows = np.arange(len(ps.table))
    vol = backproject(ps.images(rows), ps.table, invert_data=not args.uninvert_data, ctf=not args.no_ctf,
                      dose_weight=args.recon_dose_weight, tilt_weight=args.recon_tilt_weight, device=args.device,
                      mode=args.mode)
    write_volume(args.output, vol, ps.pixel_size)
    print(f"back-projected {ps.n_particles} particles ({len(rows)} tilt images) -> {args.output}")
