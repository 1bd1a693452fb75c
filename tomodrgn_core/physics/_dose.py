"""Exposure-dependent amplitude attenuation (Grant & Grigorieff 2015) and tilt weights.

Critical exposure Ne(k) = (a k^b + c) x f(voltage) (a=0.245, b=-1.665, c=2.81; k in 1/A, Ne in e/A^2), where
the fit is for 300 kV and f = 0.8 below 300 kV (Grant & Grigorieff's factor for 200 kV; the reference tomoDRGN
applies it to every voltage other than 300 kV); amplitude attenuation exp(-N / (2 Ne)); frequencies whose
cumulative exposure N exceeds the optimal exposure 2.51284 Ne carry more noise than signal and are masked out
of training. Since the voltage only scales Ne, an exposure N at voltage V acts as N / f(V) at 300 kV
(``equivalent_exposure``): the training data precompute that once per tilt image.
"""
import torch

CRITICAL_A, CRITICAL_B, CRITICAL_C = 0.245, -1.665, 2.81
OPTIMAL_OVER_CRITICAL = 2.51284
BELOW_300KV_FACTOR = 0.8


def voltage_factor(voltage) -> torch.Tensor:
    """f(voltage): 1 at 300 kV (and above), 0.8 below (kV, scalar or tensor)."""
    v = torch.as_tensor(voltage, dtype=torch.float64)
    return torch.where(v < 299.5, BELOW_300KV_FACTOR, 1.0)


def equivalent_exposure(dose: torch.Tensor, voltage=300.0) -> torch.Tensor:
    """The 300 kV exposure with the same attenuation as ``dose`` at ``voltage``: dose / f(voltage)."""
    dose = torch.as_tensor(dose)
    return dose / voltage_factor(voltage).to(device=dose.device, dtype=dose.dtype)


def critical_exposure(freq: torch.Tensor, voltage: float = 300.0) -> torch.Tensor:
    """Ne(k) in e/A^2 for frequency magnitudes (1/A) at one ``voltage`` (kV); +inf at k = 0."""
    k = freq.clamp_min(1e-12)
    ne = (CRITICAL_A * k.pow(CRITICAL_B) + CRITICAL_C) * float(voltage_factor(voltage))
    return torch.where(freq > 0, ne, torch.full_like(ne, float("inf")))


def dose_attenuation(dose: torch.Tensor, freq: torch.Tensor, voltage=300.0) -> torch.Tensor:
    """(ntilt, npix) amplitude factor exp(-N / (2 Ne(k))) for cumulative doses (ntilt,) at ``voltage`` (kV,
    scalar or (ntilt,))."""
    return torch.exp(-equivalent_exposure(dose, voltage).unsqueeze(-1) / (2 * critical_exposure(freq)))


def dose_mask(dose: torch.Tensor, freq: torch.Tensor, voltage=300.0) -> torch.Tensor:
    """(ntilt, npix) bool: keep frequencies whose exposure is below the optimal exposure."""
    return equivalent_exposure(dose, voltage).unsqueeze(-1) <= OPTIMAL_OVER_CRITICAL * critical_exposure(freq)
