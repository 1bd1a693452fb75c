"""Centred frequency lattices.

A D x D image's lattice point for pixel (row i, column j) is (x, y, z) = ((j - D//2)/D, (i - D//2)/D, 0)
in cycles per pixel, i.e. in [-0.5, 0.5). Flattening follows ``img.reshape(-1)`` (row-major).
The 3D lattice of a volume vol[z, y, x] is ((x - D//2)/D, (y - D//2)/D, (z - D//2)/D), flattened
like ``vol.reshape(-1)``. Multiply by 1/pixel_size for frequencies in 1/Angstrom.
"""
import torch


def _axis(D: int, device=None, dtype=torch.float32) -> torch.Tensor:
    return (torch.arange(D, device=device, dtype=dtype) - D // 2) / D


def lattice_2d(D: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(D*D, 3) coordinates of the central section z = 0."""
    a = _axis(D, device, dtype)
    y, x = torch.meshgrid(a, a, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1), torch.zeros(D * D, device=device, dtype=dtype)], -1)


def lattice_3d(D: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(D**3, 3) coordinates (x, y, z) of a volume vol[z, y, x]."""
    a = _axis(D, device, dtype)
    z, y, x = torch.meshgrid(a, a, a, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1), z.reshape(-1)], -1)


def circular_mask(D: int, radius: float | None = None, device=None) -> torch.Tensor:
    """(D*D,) bool: lattice points within ``radius`` pixels of the origin (default D//2, Nyquist)."""
    radius = D // 2 if radius is None else radius
    r = lattice_2d(D, device=device)[:, :2].norm(dim=-1) * D
    return r <= radius


def spatial_frequency(D: int, pixel_size: float, device=None) -> torch.Tensor:
    """(D*D,) spatial frequency magnitude of each 2D lattice point in 1/Angstrom."""
    return lattice_2d(D, device=device)[:, :2].norm(dim=-1) / pixel_size
