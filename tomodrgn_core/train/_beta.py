"""Training schedules (--beta-schedule, --lr-schedule) as pure functions of progress (epoch + fraction of the
epoch done), so a resumed run uses the same values as an uninterrupted one; and the learning rate's scaling
with the batch size.

constant: beta throughout. linear: 0 -> beta over the first ``epochs`` epochs, then beta (KL warm-up).
cyclical: the linear ramp over the first half of every ``epochs``-epoch cycle, beta for the second half
(Fu et al. 2019, against posterior collapse).
"""
from __future__ import annotations

import math

SCHEDULES = ("constant", "linear", "cyclical")


def beta_at(beta: float, schedule: str, epochs: int, progress: float) -> float:
    """beta at ``progress`` = epoch + fraction of the epoch done (0-based)."""
    if schedule == "constant" or epochs <= 0:
        return beta
    if schedule == "linear":
        return beta * min(1.0, progress / epochs)
    if schedule == "cyclical":
        phase = (progress % epochs) / epochs
        return beta * min(1.0, 2.0 * phase)
    raise ValueError(f"unknown beta schedule {schedule!r}; one of {SCHEDULES}")


def lr_at(lr: float, schedule: str, total_epochs: int, progress: float, floor: float = 0.01) -> float:
    """Learning rate at ``progress``: constant, or cosine from lr to floor * lr over ``total_epochs``."""
    if schedule == "constant" or total_epochs <= 0:
        return lr
    if schedule == "cosine":
        f = 0.5 * (1 + math.cos(math.pi * min(1.0, progress / total_epochs)))
        return lr * (floor + (1 - floor) * f)
    raise ValueError(f"unknown lr schedule {schedule!r}; one of constant, cosine")


def batch_scaled_lr(lr: float, batch_size: int) -> float:
    """The rate a batch of ``batch_size`` particles trains at, given the rate ``lr`` at batch 1: lr x sqrt(batch),
    the reference tomoDRGN's rule (its train_vae and train_nn scale --lr so; a batch's gradient is an average, less
    noisy by sqrt(batch), so it can take a larger step)."""
    return lr * math.sqrt(batch_size)
