"""Contrast transfer function (same formula as cryoDRGN/tomoDRGN).

ctf = sqrt(1 - w^2) sin(gamma) - w cos(gamma),
gamma = 2 pi (-0.5 df lambda s^2 + 0.25 Cs lambda^3 s^4) - phase_shift,
df = 0.5 (dU + dV + (dU - dV) cos(2 (angle - astig_angle))).
Underfocus is positive defocus, so the CTF is negative at low frequency: raw images show dark
protein; Warp/RELION stacks are usually contrast-inverted (white protein), hence ``invert_data``.
"""
import math

import numpy as np
import torch


def electron_wavelength(voltage_kv: torch.Tensor | float) -> torch.Tensor:
    """Relativistic electron wavelength in Angstrom."""
    v = torch.as_tensor(voltage_kv if torch.is_tensor(voltage_kv) else np.array(voltage_kv, dtype=np.float64),
                        dtype=torch.float64) * 1000.0
    return 12.2643247 / torch.sqrt(v + 0.978466e-6 * v ** 2)


def compute_ctf(freqs: torch.Tensor, defocus_u, defocus_v, defocus_angle, voltage, cs, amp_contrast,
                phase_shift=0.0, bfactor=0.0) -> torch.Tensor:
    """CTF at ``freqs`` (..., npix, 2) in 1/A for per-image parameters of shape (...,) or scalars.

    defocus in A, angles in degrees, voltage in kV, cs in mm, amp_contrast a fraction.
    Returns (..., npix).
    """
    dev, dt = freqs.device, freqs.dtype

    def col(v):
        if np.ndim(v) == 0 and not (torch.is_tensor(v) and v.device == dev):
            # a plain number: a tensor made from it on a GPU would be a blocking host->device copy at every call
            return float(v)
        return torch.as_tensor(np.array(v, dtype=np.float64) if not torch.is_tensor(v) else v, device=dev, dtype=dt).unsqueeze(-1)

    dfu, dfv, dfang = col(defocus_u), col(defocus_v), col(defocus_angle) * (math.pi / 180)
    lam = col(electron_wavelength(voltage).to(dt))
    cs_a = col(cs) * 1e7
    w = col(amp_contrast)
    phase = col(phase_shift) * (math.pi / 180)
    x, y = freqs[..., 0], freqs[..., 1]
    s2 = x * x + y * y
    ang = torch.atan2(y, x)
    df = 0.5 * (dfu + dfv + (dfu - dfv) * torch.cos(2 * (ang - dfang)))
    gamma = 2 * math.pi * (-0.5 * df * lam * s2 + 0.25 * cs_a * lam ** 3 * s2 * s2) - phase
    ctf = (1 - w * w) ** 0.5 * torch.sin(gamma) - w * torch.cos(gamma)
    bf = col(bfactor)
    return ctf if isinstance(bf, float) and bf == 0.0 else ctf * torch.exp(-bf / 4 * s2)


def image_sign(invert_data: bool, premultiplied: np.ndarray) -> np.ndarray:
    """(n,) +-1 per image that brings it to the forward model's sign (CTF x volume, protein dark at low
    resolution): -1 for contrast-inverted (white-protein) stacks when ``invert_data``. CTF-premultiplied images
    hold CTF^2 x volume, positive whatever the CTF's sign, so they are never flipped (WarpTools 2D stacks:
    the flipped sign correlated -0.7 with WarpTools' own reconstruction, the kept one +0.7)."""
    return np.where(np.asarray(premultiplied, bool), 1.0, -1.0 if invert_data else 1.0)
