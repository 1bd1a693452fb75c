"""The real-space soft window every tilt image is multiplied by before its transform (the reference tomoDRGN's
--window-r / --window-r-outer): 1 inside ``inner``, a cosine fall to 0 at ``outer`` (fractions of the box
half-width), 0 beyond. It takes the box corners' noise (and a neighbour's density) out of the encoder's input
and the decoder's target; the window is centred on the box, as the reference applies it before centring the
particle."""
from __future__ import annotations

import torch

WINDOW_INNER, WINDOW_OUTER = 0.8, 0.9  # the reference's train_vae / train_nn defaults
WINDOW = (WINDOW_INNER, WINDOW_OUTER)


def soft_window(D: int, inner: float = WINDOW_INNER, outer: float = WINDOW_OUTER, dtype=torch.float64) -> torch.Tensor:
    """(D, D) window; pixel (i, j) sits at ((j - D/2) / (D/2), (i - D/2) / (D/2)) in box half-widths."""
    if not 0 <= inner < outer:
        raise ValueError(f"window radii must satisfy 0 <= inner < outer, got {inner}, {outer}")
    a = (torch.arange(D, dtype=dtype) - D / 2) / (D / 2)
    r = torch.sqrt(a[:, None] ** 2 + a[None, :] ** 2)
    edge = 0.5 * (1 + torch.cos(torch.pi * (r - inner) / (outer - inner)))
    return torch.where(r <= inner, torch.ones_like(r), torch.where(r < outer, edge, torch.zeros_like(r)))
