"""--cuda-graph: the training step's forward and backward recorded once as two CUDA graphs and replayed per batch.

At batch 1 a step is a few hundred tiny kernels, and eager PyTorch spends longer launching them than the GPU
spends running them. A replayed graph launches them all at once. The step is graph-safe by construction: no
host syncs, one static shape per batch size (data.pad_points), beta read from a tensor, noise from the
default CUDA generator (which graphs advance at every replay). Tilt sampling and the optimizer stay eager
(a dozen kernels, and one fused AdamW kernel).

The capture uses torch.cuda.make_graphed_callables, PyTorch's public partial-network capture. Batches of
another size (the last, short batch of an epoch) run eagerly; so does everything if the capture fails.
"""
from __future__ import annotations

import torch
from torch import nn

from ..data import Batch
from ..errors import one_line

BATCH_TENSORS = ("ht", "rot", "ctf", "dose", "tilt_weight")  # what batch_loss reads from a Batch


class TensorArgsStep(nn.Module):
    """The TrainStep with the batch passed as plain tensors (a graphed callable takes only tensors).

    A wrapper, not the TrainStep itself: make_graphed_callables replaces the forward of the module it is
    given, and the TrainStep must stay eager for batches of other sizes."""

    def __init__(self, step: nn.Module):
        super().__init__()
        self.step = step

    def forward(self, ht, rot, ctf, dose, tilt_weight):
        loss, mse, kld = self.step(Batch(None, None, ht, rot, ctf, dose, tilt_weight))
        # only the loss is differentiated; mse is the loss itself in train_nn, and one graph output per tensor
        # keeps the captured backward to the loss alone
        return loss, mse.detach(), kld.detach()


def batch_tensors(batch: Batch) -> tuple:
    return tuple(getattr(batch, name) for name in BATCH_TENSORS)


class GraphedStep:
    """Calls like the TrainStep; replays CUDA graphs for full batches once captured.

    ``make_graphed`` is torch.cuda.make_graphed_callables (tests also pass a fake one, to check the dispatch)."""

    def __init__(self, step: nn.Module, batch_size: int, log, make_graphed=None):
        self.step, self.batch_size, self.log = step, batch_size, log
        self.make_graphed = make_graphed or torch.cuda.make_graphed_callables
        self.graphed = None
        self.shape = None
        self.failed = False

    def __call__(self, batch: Batch):
        args = batch_tensors(batch)
        if self.graphed is None and not self.failed and len(batch.ht) == self.batch_size:
            self._capture(args)
        if self.graphed is not None and batch.ht.shape == self.shape:
            return self.graphed(*args)
        return self.step(batch)

    def _capture(self, args) -> None:
        try:
            # its own copies of the sample batch: the warm-up and capture must not touch the live one
            self.graphed = self.make_graphed(TensorArgsStep(self.step), tuple(a.clone() for a in args))
            self.shape = args[0].shape
            self.log(f"training step captured as CUDA graphs (batch {self.batch_size}); replayed for every full batch")
        except Exception as err:  # noqa: BLE001 - any capture failure: train on, eagerly
            self.failed = True
            self.log(f"CUDA graph capture failed ({one_line(err)}); training eagerly")
