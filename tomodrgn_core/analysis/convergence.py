"""Convergence of training runs: how much latent embeddings and volumes still change between epochs."""
from __future__ import annotations

import numpy as np

from .metrics import map_cc, masked_fsc, resolution_at


def latent_shift(z_prev: np.ndarray, z_next: np.ndarray) -> float:
    """Relative change of the embedding that no affine map explains: ||z_next - affine(z_prev)|| / ||z_next -
    mean||. Latent axes may rotate/scale between epochs without meaning anything; this ignores that."""
    a = np.c_[np.asarray(z_prev, np.float64), np.ones(len(z_prev))]
    b = np.asarray(z_next, np.float64)
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    resid = b - a @ coef
    spread = np.linalg.norm(b - b.mean(0))
    return float(np.linalg.norm(resid) / spread) if spread > 0 else 0.0


def neighbor_overlap(z_prev: np.ndarray, z_next: np.ndarray, k: int = 10) -> float:
    """Mean fraction of each particle's k nearest latent neighbours kept between two epochs (1 = same)."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(z_prev) - 1)
    if k < 1:
        return 1.0
    ia = NearestNeighbors(n_neighbors=k + 1).fit(z_prev).kneighbors(z_prev, return_distance=False)[:, 1:]
    ib = NearestNeighbors(n_neighbors=k + 1).fit(z_next).kneighbors(z_next, return_distance=False)[:, 1:]
    same = (ia[:, :, None] == ib[:, None, :]).any(-1).sum(1)
    return float(same.mean() / k)


def select_epochs(saved: list[int], interval: int, final: int | None = None) -> list[int]:
    """Every ``interval``-th saved epoch up to ``final`` (default the last), always including ``final``."""
    saved = sorted(e for e in saved if final is None or e <= final)
    if not saved:
        return []
    final = saved[-1] if final is None else final
    chosen = [e for e in saved if e % max(1, interval) == (final % max(1, interval))]
    if final not in chosen:
        chosen.append(final)
    return sorted(set(chosen))


def volume_pair_metrics(a: np.ndarray, b: np.ndarray, pixel_size: float) -> dict:
    """CC and masked-FSC resolutions (A at 0.5 and 0.143) between two volumes."""
    freqs, curve = masked_fsc(a, b)
    return {"cc": map_cc(a, b), "fsc_0.5_A": resolution_at(freqs, curve, 0.5, pixel_size),
            "fsc_0.143_A": resolution_at(freqs, curve, 0.143, pixel_size), "freqs": freqs, "fsc": curve}


def loss_change(losses: dict | None, window: int) -> float | None:
    """Relative change of the mean loss between the last two windows of ``window`` epochs."""
    if losses is None or len(losses["loss"]) < 2 * max(1, window):
        return None
    w = max(1, window)
    last, before = np.mean(losses["loss"][-w:]), np.mean(losses["loss"][-2 * w:-w])
    return float(abs(before - last) / abs(before)) if before else None
