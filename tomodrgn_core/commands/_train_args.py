"""Flags shared by train_nn and train_vae (names as the reference tomoDRGN)."""
import argparse
import math

from ..errors import TomoDrgnInputError

# = data._window.WINDOW (not imported: the data package loads torch, and the command-line help must not)
WINDOW_INNER, WINDOW_OUTER = 0.8, 0.9


def add_common(p: argparse.ArgumentParser, default_dec_dim: int, default_lr_schedule: str = "constant") -> None:
    p.add_argument("particles", help="input STAR (Warp/M image series, RELION 5 optimisation set, ...)")
    p.add_argument("-o", "--outdir", required=True, help="output folder")
    p.add_argument("--source-software", default="auto", help="auto|warp|cryosrpnt|relion5")
    p.add_argument("--datadir", default=None, help="folder holding the image stacks, if not beside the STAR")
    p.add_argument("--ind", default=None, help="pickled/npy particle indices to train on")
    p.add_argument("--uninvert-data", action="store_true", help="do not invert data sign")
    p.add_argument("--no-window", dest="window", action="store_false",
                   help="do not multiply the images by the real-space soft window (the reference windows them)")
    p.add_argument("--window-r", type=float, default=WINDOW_INNER,
                   help="inner radius of the soft window, in box half-widths (the cosine fall starts here)")
    p.add_argument("--window-r-outer", type=float, default=WINDOW_OUTER,
                   help="outer radius of the soft window, in box half-widths (0 from here on)")
    p.add_argument("-n", "--num-epochs", type=int, default=20, help="epochs (numbered from 0)")
    p.add_argument("-b", "--batch-size", type=int, default=1, help="particles per batch")
    p.add_argument("--lr", type=float, default=2e-4,
                   help="AdamW learning rate at batch size 1, scaled by sqrt(batch size) as the reference scales it "
                        "(-b 8 trains at 2.83 x --lr); also when resuming with --load. The reference's --lr X "
                        "(which it doubles for random tilt sampling) is our --lr 2X")
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default=default_lr_schedule,
                   help="learning rate over the run: constant (the reference), or cosine decay to 1%% of --lr at the "
                        f"last epoch of -n, which lets the model settle instead of jittering on the noise "
                        f"(default here: {default_lr_schedule})")
    p.add_argument("--wd", type=float, default=0.0, help="AdamW weight decay")
    p.add_argument("--seed", type=int, default=0, help="random seed (weights, batches, tilt draws)")
    p.add_argument("--checkpoint", type=int, default=1, help="checkpoint every N epochs (0: only the last epoch)")
    p.add_argument("--log-interval", type=int, default=0, help="log every N particles within an epoch (0: per epoch)")
    p.add_argument("--load", default=None, help="weights.<epoch>.pkl to resume from, or 'latest'")
    p.add_argument("--force", action="store_true",
                   help="start over in an output folder that holds a run: its weights.*.pkl, z.*.train.*, "
                        "reconstruct*.mrc and losses.csv are removed once this run's inputs check out (other files "
                        "are kept)")
    p.add_argument("--lazy", action="store_true", help="stream preprocessed images from disk (data larger than memory)")
    p.add_argument("--cache-dir", default=None, help="where to cache preprocessed images (default: the output folder)")
    p.add_argument("--sample-ntilts", type=int, default=None,
                   help="tilts drawn per particle at each step (not given or 0: the fewest tilts of any particle; "
                        "more than that fewest number is an error)")
    p.add_argument("--l-dose-mask", action="store_true", help="mask frequencies past the optimal exposure")
    p.add_argument("--recon-dose-weight", action="store_true", help="weight errors by exposure attenuation")
    p.add_argument("--recon-tilt-weight", action="store_true", help="weight errors by cos(tilt)")
    p.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA")
    p.add_argument("--cpu-amp", action="store_true", help="bf16 autocast on CPU too (faster on CPUs with AMX)")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|cuda:N")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the training step into one graph, replayed as a CUDA graph on GPUs (for "
                        "small batches, which are bound by kernel launches); slower on CPUs; not with --multigpu")
    p.add_argument("--cuda-graph", action="store_true",
                   help="record the step's forward and backward once as CUDA graphs and replay them per batch: for "
                        "small batches on GPUs, which are bound by kernel launches (eager fallback; not with "
                        "--multigpu or --compile)")
    p.add_argument("--multigpu", action="store_true", help="DistributedDataParallel over all visible GPUs")
    p.add_argument("--num-workers", type=int, default=0, help="CPU threads for torch (0: torch default)")
    p.add_argument("--ddp-cpu", type=int, default=0,
                   help="with --multigpu: N CPU processes (gloo) instead of one per GPU (testing, CPU clusters)")
    p.add_argument("--dec-dim", "--dim", dest="dec_dim", type=int, default=default_dec_dim, help="decoder width")
    p.add_argument("--dec-layers", "--layers", dest="dec_layers", type=int, default=3, help="decoder depth")
    p.add_argument("--feat-sigma", type=float, default=0.5, help="Gaussian featurisation scale")


def set_threads(args) -> None:
    if args.num_workers:
        import torch
        torch.set_num_threads(args.num_workers)


# (flag, attribute, smallest allowed value, the train_vae-only flags marked True); checked before any data is read
_AT_LEAST = [("-n", "num_epochs", 1, False), ("-b", "batch_size", 1, False),
             ("--checkpoint", "checkpoint", 0, False), ("--log-interval", "log_interval", 0, False),
             ("--sample-ntilts", "sample_ntilts", 0, False), ("--num-workers", "num_workers", 0, False),
             ("--ddp-cpu", "ddp_cpu", 0, False), ("--dec-dim", "dec_dim", 1, False),
             ("--dec-layers", "dec_layers", 1, False), ("--enc-dim-A", "enc_dim_A", 1, True),
             ("--enc-layers-A", "enc_layers_A", 1, True), ("--out-dim-A", "out_dim_A", 1, True),
             ("--enc-dim-B", "enc_dim_B", 1, True), ("--enc-layers-B", "enc_layers_B", 1, True)]


def check_args(args) -> None:
    """One-line errors for numbers no run can use, before any data is read (argparse only checks the types)."""
    vae = getattr(args, "zdim", None) is not None  # train_vae (train_nn has no --zdim)

    def bad(flag, value, need, fix):
        raise TomoDrgnInputError(f"{flag} {value}: {need}", fix=fix)

    if vae and args.zdim < 1:  # 0 would silently train a homogeneous model
        bad("--zdim", args.zdim, "the latent dimension must be at least 1",
            "e.g. --zdim 8; use train_nn for a homogeneous model (no latent)")
    for flag, name, least, vae_only in _AT_LEAST:
        value = getattr(args, name, None)
        if value is None or (vae_only and not vae):
            continue
        if value < least:
            bad(flag, value, f"must be at least {least}", f"give {flag} {least} or more")
    floats = [("--lr", "lr", True, "e.g. --lr 1e-4"), ("--wd", "wd", False, "--wd 0 (no weight decay) or e.g. 1e-4"),
              ("--feat-sigma", "feat_sigma", True, "e.g. --feat-sigma 0.5")]
    if vae:
        floats += [("--beta", "beta", False, "leave --beta out (1/zdim) or give e.g. 0.1"),
                   ("--beta-control", "beta_control", True, "e.g. --beta-control 1")]
    for flag, name, positive, fix in floats:
        value = getattr(args, name, None)
        if value is not None and (not math.isfinite(value) or value < 0 or (positive and value == 0)):
            bad(flag, value, "must be a finite number " + ("above 0" if positive else "of at least 0"), fix)
    if getattr(args, "window", False) and not 0 <= args.window_r < args.window_r_outer:
        bad("--window-r/--window-r-outer", f"{args.window_r}/{args.window_r_outer}",
            "the window needs 0 <= inner radius < outer radius", "e.g. --window-r 0.8 --window-r-outer 0.9")
    if vae and args.pooling_function == "set_encoder" and args.enc_dim_B % 4:
        bad("--enc-dim-B", args.enc_dim_B, "--pooling-function set_encoder splits it over 4 attention heads",
            "give a multiple of 4, e.g. --enc-dim-B 64")
    if vae and args.beta_schedule != "constant" and args.beta_schedule_epochs < 1:
        bad("--beta-schedule-epochs", args.beta_schedule_epochs,
            f"--beta-schedule {args.beta_schedule} needs at least 1 epoch", "e.g. --beta-schedule-epochs 10")
