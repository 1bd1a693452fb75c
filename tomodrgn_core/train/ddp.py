"""--multigpu: DistributedDataParallel, one process per visible GPU (NCCL), or N CPU processes (gloo)
with --ddp-cpu N (or TOMODRGN_DDP_CPU=N) (for testing without GPUs).

Each epoch's particle permutation is the same on every rank and split into equal contiguous shards, so
the ranks together see every particle once and gradients are averaged by DDP at each step.
"""
from __future__ import annotations

import datetime
import math
import os
import socket
from pathlib import Path

import torch
import torch.distributed as tdist
import torch.multiprocessing as mp

from ..errors import TomoDrgnInputError

PROCESS_GROUP_TIMEOUT = datetime.timedelta(hours=2)


class Distributed:
    def __init__(self, rank: int, world: int, device: torch.device):
        self.rank, self.world, self.device = rank, world, device

    def wrap(self, module, device):
        from torch.nn.parallel import DistributedDataParallel as DDP
        return DDP(module, device_ids=[device.index] if device.type == "cuda" else None)

    def shard(self, perm: torch.Tensor) -> torch.Tensor:
        per = math.ceil(len(perm) / self.world)
        padded = torch.cat([perm, perm[: per * self.world - len(perm)]])
        return padded[self.rank * per:(self.rank + 1) * per]

    def all_sum(self, t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        tdist.all_reduce(t)
        return t

    def barrier(self) -> None:
        tdist.barrier()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, backend: str, port: int, args, zdim: int, finished: torch.Tensor) -> None:
    from ._loop import train

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if backend == "nccl":
        device = torch.device("cuda", rank)
        torch.cuda.set_device(device)  # before the process group: its barriers then use this rank's GPU
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 2) // world))
        device = torch.device("cpu")
    # the other ranks wait in a barrier while rank 0 preprocesses the images: for a big dataset that takes
    # longer than NCCL's 10-minute default timeout
    tdist.init_process_group(backend, rank=rank, world_size=world, timeout=PROCESS_GROUP_TIMEOUT)
    try:
        train(args, zdim, dist=Distributed(rank, world, device))
        finished[rank] = 1
        tdist.barrier()  # leave together: a peer's closed socket aborts a rank still inside a collective
    finally:
        tdist.destroy_process_group()


def input_error_line(child_traceback: str) -> str | None:
    """The message of a TomoDrgnInputError (or subclass) ending a DDP child's traceback, else None."""
    for line in reversed(child_traceback.strip().splitlines()):
        name, sep, message = line.partition(": ")
        if sep and name.startswith("tomodrgn_core.") and name.rsplit(".", 1)[-1] in ("TomoDrgnInputError",
                                                                                    "TrainingDiverged"):
            return message
    return None


def launch(args, zdim: int) -> None:
    cpu_procs = int(getattr(args, "ddp_cpu", 0) or os.environ.get("TOMODRGN_DDP_CPU", "0"))
    if cpu_procs:
        world, backend = cpu_procs, "gloo"
    elif torch.cuda.is_available():
        world, backend = torch.cuda.device_count(), "nccl"
    else:
        raise TomoDrgnInputError("--multigpu needs visible CUDA GPUs", fix="drop --multigpu, or set CUDA_VISIBLE_DEVICES")
    if world == 1:
        from ._loop import train
        train(args, zdim)
        return
    finished = torch.zeros(world, dtype=torch.int32).share_memory_()
    try:
        mp.spawn(_worker, args=(world, backend, _free_port(), args, zdim, finished), nprocs=world, join=True)
    except mp.ProcessRaisedException as e:
        # a rank stopped on bad input or a diverging loss: its one-line message, not the child's traceback
        line = input_error_line(str(e))
        if line is None:
            raise
        err = TomoDrgnInputError(line)
        # checkpoints saved before the stop (a diverged run) are worth keeping: the folder is not removed
        err.keep_output = any(Path(args.outdir).glob("weights.*.pkl"))
        raise err from None
    except mp.ProcessExitedException as e:
        # gloo can abort a rank while the process group is torn down (a peer closed its sockets first); once
        # every rank has finished training and rank 0 has written the outputs, that is harmless
        if not bool(finished.all()):
            raise
        print(f"note: a DDP process exited abnormally after training had finished on every rank ({e})", flush=True)
