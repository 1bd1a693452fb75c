"""train_nn / train_vae: one loop for both (homogeneous = zdim 0, no encoder).

Every epoch re-seeds the RNGs from (seed, epoch), so a run resumed from epoch k's checkpoint draws the
same tilts, batches and noise as an uninterrupted run (with --cuda-graph, the same tilts and batches: the
capture's warm-up passes draw latent noise of their own in the epoch that captures).
"""
from __future__ import annotations

import math
import os
import re
import resource
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from .._proc import proc_kib
from ..errors import TomoDrgnInputError, one_line
from ..data import TiltSeriesData, choose_lazy, preprocess, window_mask
from ..io import load_particles
from ..models import ARCHITECTURE, build_model
from ..models._decoder import FEATURES
from ._beta import batch_scaled_lr, beta_at, lr_at
from ..checkpoints import check_device, embed, latest_checkpoint, load_checkpoint, save_checkpoint, write_z
from ._graph import GraphedStep
from ._loss import TrainStep


class RunLog:
    """Progress to stdout and OUT/run.log (the Scipion protocol log shows stdout)."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, msg: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
        print(line, flush=True)
        with open(self.path, "a") as f:
            f.write(line + "\n")


PROGRESS_EVERY_S = 60.0  # progress lines within an epoch, when no --log-interval is given


def format_duration(seconds: float) -> str:
    m = int(round(seconds / 60))
    return f"{seconds:.0f} s" if seconds < 90 else (f"{m} min" if m < 90 else f"{m // 60} h {m % 60:02d} min")


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated, or this process's peak resident memory on CPU.

    On Linux the CPU figure is VmHWM (the peak of this process image), not ru_maxrss: Linux carries
    ru_maxrss over fork + exec, so a run launched by a big parent (a Scipion or benchmark process) would
    report the parent's peak instead of its own."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    hwm = proc_kib("/proc/self/status", "VmHWM")
    return (hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def prepare_outdir(outdir: Path, load: str | None, force: bool) -> tuple[Path | None, dict | None]:
    """Refuse to mix a new run into an old one; return the checkpoint to resume from and its config, if any."""
    if outdir.exists() and not outdir.is_dir():
        raise TomoDrgnInputError("the output folder is a file", path=outdir, fix="give -o a folder name")
    if load:
        ckpt = latest_checkpoint(outdir) if load == "latest" else Path(load)
        if ckpt is None:
            raise TomoDrgnInputError("--load latest: no weights.<epoch>.pkl in the output folder", path=outdir,
                                     fix="start without --load, or point --load at a checkpoint")
        # a bad file fails now, before any preprocessing; its config is checked against the particles once read
        return ckpt, load_checkpoint(ckpt, map_location="cpu")["config"]
    if outdir.exists() and any(outdir.glob("weights.*.pkl")) and not force:
        raise TomoDrgnInputError("output folder already holds a training run", path=outdir,
                                 fix="use --load latest to continue it, -o for a new folder, or --force to overwrite")
    return None, None


# what a training run writes per epoch/at the end; --force removes exactly these of a previous run, nothing else
RUN_OUTPUTS = re.compile(r"weights\.\d+\.pkl|z\.\d+\.train\.(pkl|npz)|reconstruct(\.\d+)?\.mrc|losses\.csv")


def clear_previous_run(outdir: Path, log) -> None:
    """--force: remove the previous run's checkpoints, embeddings, maps and losses, so that nothing later (analyze
    DIR -1, convergence) can mistake them for this run's. Its analysis folders are the user's: kept, but named."""
    old = sorted(p for p in outdir.iterdir() if p.is_file() and RUN_OUTPUTS.fullmatch(p.name))
    for p in old:
        p.unlink()
    if old:
        log(f"--force: removed {len(old)} training output files of the previous run in {outdir} "
            f"(weights.*.pkl, z.*.train.*, reconstruct*.mrc, losses.csv)")
    derived = sorted(p.name for p in outdir.iterdir() if p.is_dir() and re.match(r"(analyze|convergence)[._]", p.name))
    if derived:
        log(f"--force: {', '.join(derived)} belong to the previous run (kept; they do not describe this run)")


def model_config(args, box: int, ntilts: int, zdim: int) -> dict:
    cfg = dict(box=box, window_points=int(window_mask(box).sum()), ntilts=ntilts, zdim=zdim,
               dec_dim=args.dec_dim, dec_layers=args.dec_layers, feat_sigma=args.feat_sigma, seed=args.seed,
               decoder_features=FEATURES, architecture=ARCHITECTURE)
    if zdim:
        cfg.update(enc_dim_A=args.enc_dim_A, enc_layers_A=args.enc_layers_A, out_dim_A=args.out_dim_A,
                   enc_dim_B=args.enc_dim_B, enc_layers_B=args.enc_layers_B, pooling=args.pooling_function)
    return cfg


def compiled_step(step, device: torch.device, log):
    """--compile: the whole loss (encoder, decoder, masks, weights) as ONE traced graph (fullgraph: no breaks,
    no host syncs); on CUDA in 'reduce-overhead' mode, i.e. replayed as a CUDA graph, which removes the
    per-kernel launch cost that bounds batch-1 training. Falls back to the eager step if compiling fails.
    TOMODRGN_COMPILE_BACKEND picks another torch.compile backend (the tests use aot_eager on CPU)."""
    backend = os.environ.get("TOMODRGN_COMPILE_BACKEND", "inductor")
    mode = "reduce-overhead" if device.type == "cuda" and backend == "inductor" else None
    try:
        compiled = torch.compile(step, backend=backend, mode=mode, fullgraph=True, dynamic=False)
    except Exception as err:  # noqa: BLE001 - e.g. an unknown backend
        log(f"torch.compile unavailable ({one_line(err)}); training eagerly")
        return step
    state = {"fn": compiled, "tried": False}

    def run(batch):
        try:
            if not state["tried"]:
                state["tried"] = True
                trial_backward(compiled, step, batch, device)
            return state["fn"](batch)
        except Exception as err:  # noqa: BLE001 - any compiler failure: train on, eagerly
            if state["fn"] is step:
                raise
            log(f"torch.compile failed ({one_line(err)}); training eagerly")
            state["fn"] = step
            return step(batch)

    log(f"compiling the training step (backend {backend}{', CUDA graphs' if mode else ''}): the first steps are slow")
    return run


def trial_backward(compiled, step, batch, device: torch.device) -> None:
    """One throw-away forward + backward of the compiled step: the backward graph compiles only at the first
    backward(), outside the step, so a compiler failure there would end the run instead of falling back.
    The random state is restored, so training draws the same noise as it would have without the trial."""
    params = [p for p in step.parameters() if p.requires_grad]
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        loss = compiled(batch)[0]
        torch.autograd.grad(loss, params, allow_unused=True)


def graphs_available(device: torch.device) -> bool:
    """--cuda-graph needs a CUDA device (the tests replace this to run the graph path on a CPU stand-in)."""
    return device.type == "cuda"


def check_resume(saved: dict, ps, mcfg: dict, path) -> None:
    """--load: the checkpoint must come from a run on these particles (after --ind) with this architecture;
    another particle set would be trained on silently and its config.yaml would then describe neither."""
    was = saved.get("dataset") or {}
    if any(key in was and was[key] != now for key, now in (("n_particles", ps.n_particles), ("box", ps.box))):
        raise TomoDrgnInputError(f"checkpoint was trained on {was.get('n_particles')} particles of box "
                                 f"{was.get('box')} ({was.get('particles')}), this run has {ps.n_particles} "
                                 f"particles of box {ps.box}",
                                 path=path, fix="resume with that run's particles (and --ind), or start a new run "
                                                "in another -o folder")
    check_compatible(saved.get("model") or {}, mcfg, path)


def check_compatible(saved: dict, current: dict, path) -> None:
    for key in ("box", "zdim", "ntilts", "window_points", "dec_dim", "dec_layers"):
        if saved.get(key) != current.get(key):
            raise TomoDrgnInputError(f"checkpoint has {key}={saved.get(key)} but this run has {key}={current.get(key)}",
                                     path=path, fix="resume with the same data and architecture, or start a new run")


class TrainingDiverged(TomoDrgnInputError):
    """A NaN/inf epoch loss; ``keep_output``: the output folder holds good checkpoints of this run to resume from."""
    keep_output = False


def diverged(outdir: Path, epoch: int, loss: float, lr: float, log) -> None:
    """Stop before this epoch's weights (NaN or inf by now) are saved; earlier checkpoints stay usable."""
    last = latest_checkpoint(outdir)
    log(f"epoch {epoch}: loss {loss}: training diverged; stopped before saving this epoch"
        + (f" (last good checkpoint: {last.name})" if last else ""))
    err = TrainingDiverged(f"epoch {epoch}: the loss is NaN/inf (training diverged)", path=outdir,
                           fix=f"lower --lr (now {lr:g})" + (f", or resume from the last good epoch ({last.name}) "
                                                             "with --load latest" if last else ""))
    err.keep_output = last is not None
    raise err


def trim_losses(path: Path, start: int) -> None:
    """Drop the rows of epochs >= ``start`` that a killed run logged after its last checkpoint: the resumed run
    trains them again and logs them once."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    keep = lines[:1] + [ln for ln in lines[1:] if ln.split(",", 1)[0].isdigit() and int(ln.split(",", 1)[0]) < start]
    if len(keep) != len(lines):
        tmp = path.with_suffix(".csv.partial")
        tmp.write_text("".join(keep))
        tmp.replace(path)


def train(args, zdim: int, dist=None) -> Path:
    """Run train_nn (zdim=0) or train_vae from parsed CLI args; returns the output folder.

    ``dist``: a train.ddp.Distributed helper when running as one of several DDP processes.
    """
    tf32 = torch.backends.cuda.matmul.allow_tf32
    try:
        return _train(args, zdim, dist)
    finally:  # the TF32 switch is global: leave it as found for whatever runs next in this process
        torch.backends.cuda.matmul.allow_tf32 = tf32


def _train(args, zdim: int, dist=None) -> Path:
    outdir = Path(args.outdir)
    if getattr(args, "cuda_graph", False) and getattr(args, "compile", False):
        raise TomoDrgnInputError("--cuda-graph and --compile both given",
                                 fix="choose one: --compile replays CUDA graphs of its own on GPUs")
    if args.num_epochs < 1 or args.batch_size < 1:
        raise TomoDrgnInputError(f"-n {args.num_epochs} -b {args.batch_size}: both must be at least 1",
                                 fix="e.g. -n 20 -b 8")
    if zdim and getattr(args, "beta_control", None) is not None and args.beta is None:
        raise TomoDrgnInputError("--beta-control needs --beta (the KLD target)", fix="add --beta TARGET")
    resume, saved = prepare_outdir(outdir, args.load, getattr(args, "force", False)) if not dist or dist.rank == 0 \
        else prepare_outdir(outdir, args.load, True)
    outdir.mkdir(parents=True, exist_ok=True)
    log = RunLog(outdir / "run.log") if not dist or dist.rank == 0 else (lambda msg: None)
    device = dist.device if dist else check_device(args.device)  # one-line error for a GPU this machine lacks
    if device.type == "cuda" and device.index is not None:
        # CUDA graphs are captured on the current device: with --device cuda:1 that must be cuda:1, not cuda:0
        torch.cuda.set_device(device)
    ps = load_particles(args.particles, args.source_software, args.datadir)
    ps.require_ctf(flag=None)
    keep = None
    if getattr(args, "ind", None):
        from ..analysis.selection import indices_from_ind
        keep = indices_from_ind(args.ind, ps.n_particles)  # one-line errors naming the file and the bad entry
        if not len(keep):
            raise TomoDrgnInputError("the selection is empty", path=args.ind, fix="select at least one particle")
        ps = ps.subset(keep)
    if ps.box % 2:
        raise TomoDrgnInputError(f"box size {ps.box} is odd", path=args.particles, fix="use an even box (tomodrgn downsample)")
    # everything that depends only on the particles is checked here, before the (long) preprocessing writes a cache
    fewest = int(ps.ntilts.min())
    if (args.sample_ntilts or 0) > fewest:
        raise TomoDrgnInputError(f"--sample-ntilts {args.sample_ntilts} exceeds the fewest tilts of any particle "
                                 f"({fewest})", path=args.particles, fix=f"use at most {fewest}, or leave it out")
    mcfg = model_config(args, ps.box, args.sample_ntilts or fewest, zdim)
    if saved is not None:
        check_resume(saved, ps, mcfg, resume)
    cache = Path(args.cache_dir) if args.cache_dir else outdir
    if dist and dist.rank != 0:
        dist.barrier()  # rank 0 writes the cache first; the others reuse it
    window = (args.window_r, args.window_r_outer) if getattr(args, "window", True) else None
    pre = preprocess(ps, cache, not args.uninvert_data, log=log, window=window)
    if dist and dist.rank == 0:
        dist.barrier()
    lazy = choose_lazy(pre, device, args.lazy, log)
    data = TiltSeriesData(ps, pre, device, lazy=lazy, sample_ntilts=args.sample_ntilts)
    compile_step = getattr(args, "compile", False) and not dist
    graph_step = getattr(args, "cuda_graph", False) and not dist and graphs_available(device)
    if device.type == "cuda" or compile_step or graph_step:  # one static shape per step: no host sync, one graph
        data.pad_points = data.max_kept_points(args.l_dose_mask)
    torch.manual_seed(args.seed)  # same initial weights for the same --seed
    model = build_model(mcfg).to(device)
    lr = batch_scaled_lr(args.lr, args.batch_size)  # --lr is the rate at batch 1, as the reference's
    optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=args.wd,
                              fused=device.type == "cuda")  # one kernel per step on GPU
    beta = (1.0 / zdim if args.beta is None else args.beta) if zdim else 0.0
    beta_control = getattr(args, "beta_control", None) if zdim else None
    schedule = getattr(args, "beta_schedule", "constant") if zdim else "constant"
    schedule_epochs = getattr(args, "beta_schedule_epochs", 0)
    lr_schedule = getattr(args, "lr_schedule", "constant")
    config = {"command": "train_vae" if zdim else "train_nn", "model": mcfg,
              "dataset": {"particles": str(Path(args.particles).resolve()), "source_software": ps.source,
                          "datadir": args.datadir, "n_particles": ps.n_particles, "n_tilt_images": len(ps.table),
                          "box": ps.box, "pixel_size": ps.pixel_size, "invert_data": not args.uninvert_data,
                          "window": list(window) if window else None,
                          "norm_std": data.norm_std, "preprocessed": str(pre)},
              "training": {"epochs": args.num_epochs, "batch_size": args.batch_size, "lr": args.lr, "lr_used": lr,
                           "lr_schedule": lr_schedule, "wd": args.wd,
                           "beta": beta, "kld_weight": "beta * KLD / (box^2 * ntilts)" if beta_control is None
                           else "beta_control * (beta - KLD)^2 / (box^2 * ntilts)", "beta_control": beta_control,
                           "beta_schedule": schedule, "beta_schedule_epochs": schedule_epochs,
                           "l_dose_mask": args.l_dose_mask, "recon_dose_weight": args.recon_dose_weight,
                           "recon_tilt_weight": args.recon_tilt_weight, "amp": not args.no_amp, "cpu_amp": getattr(args, "cpu_amp", False),
                           "compile": compile_step, "cuda_graph": graph_step,
                           "seed": args.seed, "lazy": lazy, "checkpoint": args.checkpoint},
              # every command-line argument as given (plain values), for the record and for re-running
              "args": {k: (v if v is None or isinstance(v, (bool, int, float, str)) else str(v))
                       for k, v in sorted(vars(args).items()) if k != "func"}}
    start = 0
    if resume is not None:
        ckpt = load_checkpoint(resume, map_location=device)  # (checked against this run by check_resume)
        model.load_state_dict(ckpt["model_state_dict"])
        optim.load_state_dict(ckpt["optimizer_state_dict"])
        for group in optim.param_groups:  # the saved state carries the old run's rate: this run's --lr/--wd apply
            group["lr"], group["weight_decay"] = lr, args.wd
        start = ckpt["epoch"] + 1
        log(f"resumed from {resume} (epoch {ckpt['epoch']})")
        if not dist or dist.rank == 0:
            trim_losses(outdir / "losses.csv", start)
    if resume is None and getattr(args, "force", False) and (not dist or dist.rank == 0):
        clear_previous_run(outdir, log)  # only now: a --force run that fails its checks leaves the old run intact
    if not dist or dist.rank == 0:
        with open(outdir / "config.yaml", "w") as f:
            yaml.safe_dump(config, f, sort_keys=False)
        # which STAR particle each z row is (analysis maps its selections back to the STAR through it)
        rows_file = outdir / "particle_rows.txt"
        if keep is not None:
            np.savetxt(rows_file, keep, fmt="%d")
        elif rows_file.exists():  # a run without --ind in a folder that held one with it
            rows_file.unlink()
    # bf16 autocast: default on CUDA; on CPU only when asked (pays off with AMX/AVX512-BF16 units)
    amp = (device.type == "cuda" or getattr(args, "cpu_amp", False)) and not args.no_amp
    if device.type == "cuda":
        # what autocast leaves in float32 (and all of --no-amp) multiplies on tensor cores in TF32: more precise than
        # the bf16 already accepted, and no cast kernels, which count at small batches
        torch.backends.cuda.matmul.allow_tf32 = True
    n_params = sum(p.numel() for p in model.parameters())
    log(f"{config['command']}: {ps.n_particles} particles x {data.n_sample} sampled tilts, box {ps.box}, "
        f"{n_params} parameters, device {device}{' (bf16 autocast)' if amp else ''}; learning rate {lr:.3g} "
        f"(--lr {args.lr:g} x sqrt(batch {args.batch_size}))")
    losses_csv = outdir / "losses.csv"
    if start == 0 and (not dist or dist.rank == 0):
        losses_csv.write_text("epoch,loss,mse,kld,seconds,particles_per_s\n")
    step = TrainStep(model, data, beta, args.l_dose_mask, args.recon_dose_weight, args.recon_tilt_weight,
                     beta_control)
    # -b is the global batch: each of the DDP ranks takes its share, so steps per epoch stay the same
    bs = max(1, args.batch_size // dist.world) if dist else args.batch_size
    runner = dist.wrap(step, device) if dist else step
    for flag in ("compile", "cuda_graph"):
        if getattr(args, flag, False) and dist:  # (log is silent on ranks > 0)
            log(f"--{flag.replace('_', '-')} is not used with --multigpu: training eagerly")
    if getattr(args, "cuda_graph", False) and not dist and not graph_step:
        log(f"--cuda-graph needs a CUDA device, not {device}: training eagerly")
    if compile_step:
        runner = compiled_step(step, device, log)
    if graph_step:
        runner = GraphedStep(step, bs, log)
    rank0 = not dist or dist.rank == 0
    epoch_secs = []  # for the time left
    for epoch in range(start, args.num_epochs):
        torch.manual_seed(args.seed * 100003 + epoch)
        perm = torch.randperm(ps.n_particles, device="cpu")
        if dist:  # equal-sized shards (wrapping around) so every rank runs the same number of steps
            perm = dist.shard(perm)
        perm = perm.to(data.index_device)
        rank = dist.rank if dist else 0
        torch.manual_seed(args.seed * 100003 + epoch + 7919 * rank)  # noise and tilt draws per rank
        gen = torch.Generator(device=data.index_device).manual_seed(args.seed * 100003 + epoch + 7919 * rank)
        t0 = next_note = time.perf_counter()
        tot = torch.zeros(3, device=device)
        starts = range(0, len(perm), bs)
        for bi, (s0, b) in enumerate(zip(starts, data.batches((perm[s0:s0 + bs] for s0 in starts), True, gen))):
            n_b = len(b.particles)
            progress = epoch + s0 / len(perm)
            step.beta_t.fill_(beta_at(beta, schedule, schedule_epochs, progress))
            if lr_schedule != "constant":
                for group in optim.param_groups:
                    group["lr"] = lr_at(lr, lr_schedule, args.num_epochs, progress)
            # (a graph capture records the casts themselves: autocast may not cache them across steps)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp, cache_enabled=not graph_step):
                loss, mse, kld = runner(b)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            tot += torch.stack([loss.detach(), mse.detach(), kld.detach()]) * n_b
            if rank0 and args.log_interval and (bi + 1) % max(1, args.log_interval // bs) == 0:
                log(f"  epoch {epoch} [{s0 + n_b}/{len(perm)}] loss {loss.item():.5f}")
            elif rank0 and not args.log_interval and time.perf_counter() - next_note > PROGRESS_EVERY_S \
                    and s0 + n_b < len(perm):
                # a long epoch says where it is once a minute (no loss value: reading it would wait for the GPU)
                done, spent = s0 + n_b, time.perf_counter() - t0
                to_go = spent * (len(perm) - done) / done
                log(f"  epoch {epoch} [{done}/{len(perm)}] {spent:.0f} s, about {to_go:.0f} s to the end of the epoch")
                next_note = time.perf_counter()
        n_seen = torch.tensor(float(len(perm)), device=device)
        if dist:
            tot, n_seen = dist.all_sum(tot), dist.all_sum(n_seen)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        secs = time.perf_counter() - t0
        loss, mse, kld = (tot / n_seen).tolist()
        if not math.isfinite(loss):  # (every rank sees the same summed loss: all stop)
            diverged(outdir, epoch, loss, args.lr, log if rank0 else (lambda msg: None))
        rate = float(n_seen) / secs
        last = epoch == args.num_epochs - 1
        epoch_secs.append(secs)
        if rank0:
            # (train_nn: the loss is the MSE, and there is no KLD)
            terms = f"loss {loss:.5f} mse {mse:.5f} kld {kld:.4f}" if zdim else f"loss {loss:.5f}"
            left = (args.num_epochs - epoch - 1) * float(np.median(epoch_secs))
            log(f"epoch {epoch}: {terms} | {secs:.2f} s, {rate:.1f} particles/s, peak memory "
                f"{peak_memory_mb(device):.0f} MB" + (f", about {format_duration(left)} left" if left else ""))
            with open(losses_csv, "a") as f:
                f.write(f"{epoch},{loss:.8g},{mse:.8g},{kld:.8g},{secs:.4f},{rate:.3f}\n")
            if last or (args.checkpoint and (epoch + 1) % args.checkpoint == 0):
                save_checkpoint(outdir / f"weights.{epoch}.pkl", model, optim, epoch, config)
                if zdim:
                    write_z(outdir, epoch, *embed(model, data))
                else:
                    from ..evaluation import generate_volumes
                    from ..io import write_volume
                    vol = generate_volumes(model, config, None, device=device)[0]
                    write_volume(outdir / f"reconstruct.{epoch}.mrc", vol, ps.pixel_size)
                    if last:
                        write_volume(outdir / "reconstruct.mrc", vol, ps.pixel_size)
        if dist:
            dist.barrier()
    log(f"done: {outdir}")
    return outdir
