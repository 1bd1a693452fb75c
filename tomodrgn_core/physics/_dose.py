"""Exposure-dependent amplitude attenuation (Grant & Grigorieff 2015) and tilt weights.

Critical exposure Ne(k) = a k^b + c (a=0.245, b=-1.665, c=2.81; k in 1/A, Ne in e/A^2);
amplitude attenuation exp(-N / (2 Ne)); frequencies whose cumulative exposure N exceeds the
optimal exposure 2.51284 Ne carry more noise than signal and are masked out of training.
"""
import torch

CRITICAL_A, CRITICAL_B, CRITICAL_C = 0.245, -1.665, 2.81
OPTIMAL_OVER_CRITICAL = 2.51284


def critical_exposure(freq: torch.Tensor) -> torch.Tensor:
    """Ne(k) in e/A^2 for frequency magnitudes (1/A); +inf at k = 0."""
    k = freq.clamp_min(1e-12)
    ne = CRITICAL_A * k.pow(CRITICAL_B) + CRITICAL_C
    return torch.where(freq > 0, ne, torch.full_like(ne, float("inf")))


def dose_attenuation(dose: torch.Tensor, freq: torch.Tensor) -> torch.Tensor:
    """(ntilt, npix) amplitude factor exp(-N / (2 Ne(k))) for cumulative doses (ntilt,)."""
    return torch.exp(-dose.unsqueeze(-1) / (2 * critical_exposure(freq)))


def dose_mask(dose: torch.Tensor, freq: torch.Tensor) -> torch.Tensor:
    """(ntilt, npix) bool: keep frequencies whose exposure is below the optimal exposure."""
    return dose.unsqueeze(-1) <= OPTIMAL_OVER_CRITICAL * critical_exposure(freq)
