"""Fourier cropping (downsampling without aliasing), for images and volumes."""
import numpy as np
import torch

from ._fft import fft2_center, fft3_center, ifft2_center, ifft3_center


def _crop(n: int, d: int) -> slice:
    start = n // 2 - d // 2
    return slice(start, start + d)


def fourier_crop_2d(images, d: int) -> np.ndarray:
    """(n, D, D) -> (n, d, d) keeping the central d x d frequencies; the mean value is preserved."""
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    D = x.shape[-1]
    f = fft2_center(x)[..., _crop(D, d), _crop(D, d)]
    return (ifft2_center(f).real * (d * d) / (D * D)).numpy().astype(np.float32)


def fourier_crop_3d(vol, d: int) -> np.ndarray:
    """(..., D, D, D) -> (..., d, d, d) by Fourier cropping; the mean value is preserved."""
    x = torch.as_tensor(np.asarray(vol, dtype=np.float32))
    D = x.shape[-1]
    c = _crop(D, d)
    f = fft3_center(x)[..., c, c, c]
    return (ifft3_center(f).real * (d ** 3) / (D ** 3)).numpy().astype(np.float32)
