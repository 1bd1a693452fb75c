"""Centred Fourier and Hartley transforms (the ONE convention of the package).

Arrays are indexed [..., y, x] (2D) or [..., z, y, x] (3D), with the origin (DC) at index D//2
along every axis after the transform; real-space arrays have their centre at D//2 too.
The Hartley transform H = Re(F) - Im(F) is real, and H(H(x)) = N * x, so the inverse is the same
transform divided by the number of pixels.
"""
import torch

_2D = (-2, -1)
_3D = (-3, -2, -1)


def _centred(transform, x: torch.Tensor, dims) -> torch.Tensor:
    """``transform`` over ``dims`` with the origin at D//2 on both sides."""
    return torch.fft.fftshift(transform(torch.fft.ifftshift(x, dim=dims), dim=dims), dim=dims)


def fft2_center(img: torch.Tensor) -> torch.Tensor:
    return _centred(torch.fft.fft2, img, _2D)


def ifft2_center(f: torch.Tensor) -> torch.Tensor:
    return _centred(torch.fft.ifft2, f, _2D)


def ht2_center(img: torch.Tensor) -> torch.Tensor:
    f = fft2_center(img)
    return f.real - f.imag


def iht2_center(ht: torch.Tensor) -> torch.Tensor:
    return ht2_center(ht) / (ht.shape[-1] * ht.shape[-2])


def fft3_center(vol: torch.Tensor) -> torch.Tensor:
    return _centred(torch.fft.fftn, vol, _3D)


def ifft3_center(f: torch.Tensor) -> torch.Tensor:
    return _centred(torch.fft.ifftn, f, _3D)


def ht3_center(vol: torch.Tensor) -> torch.Tensor:
    f = fft3_center(vol)
    return f.real - f.imag


def iht3_center(ht: torch.Tensor) -> torch.Tensor:
    return ht3_center(ht) / (ht.shape[-1] * ht.shape[-2] * ht.shape[-3])
