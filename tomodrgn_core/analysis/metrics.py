"""Map and clustering metrics used by analysis, convergence checks, tests and the benchmark.

FSC follows the paper: volumes are soft-masked first (binarise at half the 99th-percentile voxel value,
dilate 3 px, cosine edge over 10 px), then correlated shell by shell in Fourier space.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def _same_shape(a: np.ndarray, b: np.ndarray, cubic: bool = False) -> None:
    """Map metrics compare voxel by voxel: a box mismatch is a caller error worth a plain message."""
    if a.shape != b.shape:
        raise ValueError(f"maps have different shapes {a.shape} and {b.shape}: resample one to the other's box")
    if cubic and (a.ndim != 3 or len(set(a.shape)) != 1):
        raise ValueError(f"FSC needs cubic volumes, got shape {a.shape}")


def map_cc(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Real-space Pearson correlation of two maps (optionally inside a mask/weight map)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    _same_shape(a, b)
    w = np.ones_like(a) if mask is None else np.asarray(mask, np.float64)
    am, bm = (w * a).sum() / w.sum(), (w * b).sum() / w.sum()
    da, db = a - am, b - bm
    return float((w * da * db).sum() / np.sqrt((w * da * da).sum() * (w * db * db).sum()))


def reference_weights(vol: np.ndarray, refs) -> np.ndarray:
    """Least-squares weights w of ``vol`` ~ sum_k w_k refs[k] + c (maps mean-removed).

    Which reference a map resembles when the references share most of their density: a class volume's own
    class gets the larger weight, where plain CCs differ only in the fourth digit (classes CC 0.83 to each other)."""
    for r in refs:
        _same_shape(np.asarray(vol), np.asarray(r))
    v = np.asarray(vol, np.float64).ravel()
    R = np.stack([np.asarray(r, np.float64).ravel() for r in refs], 1)
    R = R - R.mean(0)
    return np.linalg.lstsq(R, v - v.mean(), rcond=None)[0]


def soft_mask(vol: np.ndarray, dilate_px: int = 3, edge_px: int = 10, percentile: float = 99.0) -> np.ndarray:
    """The paper's mask: binarise at 0.5 x the 99th percentile, dilate, falling cosine edge."""
    vol = np.asarray(vol)
    binary = vol >= 0.5 * np.percentile(vol, percentile)
    if dilate_px:
        binary = ndimage.binary_dilation(binary, iterations=dilate_px)
    if not edge_px:
        return binary.astype(np.float32)
    dist = ndimage.distance_transform_edt(~binary)
    edge = 0.5 * (1 + np.cos(np.pi * np.clip(dist / edge_px, 0, 1)))
    return np.where(binary, 1.0, edge).astype(np.float32)


def fsc(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fourier shell correlation. Returns (frequencies in 1/px for shells 0..D/2-1, fsc values)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    _same_shape(a, b, cubic=True)
    if mask is not None:
        a, b = a * mask, b * mask
    D = a.shape[0]
    fa, fb = np.fft.fftshift(np.fft.fftn(a)), np.fft.fftshift(np.fft.fftn(b))
    ax = np.arange(D) - D // 2
    r = np.sqrt(ax[:, None, None] ** 2 + ax[None, :, None] ** 2 + ax[None, None, :] ** 2)
    shell = np.round(r).astype(np.int64).ravel()
    keep = shell < D // 2
    shell = shell[keep]
    num = np.bincount(shell, (fa * np.conj(fb)).real.ravel()[keep], D // 2)
    pa = np.bincount(shell, (np.abs(fa) ** 2).ravel()[keep], D // 2)
    pb = np.bincount(shell, (np.abs(fb) ** 2).ravel()[keep], D // 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.where(pa * pb > 0, num / np.sqrt(pa * pb), 0.0)
    return np.arange(D // 2) / D, curve


def masked_fsc(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FSC after the paper's soft mask computed from the mean of both maps."""
    return fsc(a, b, soft_mask(0.5 * (np.asarray(a) + np.asarray(b))))


def resolution_at(freqs: np.ndarray, curve: np.ndarray, threshold: float, pixel_size: float = 1.0) -> float:
    """Resolution (A, or px when pixel_size is 1) where the FSC first falls below ``threshold``,
    interpolated linearly between shells; Nyquist (2 px) if it never does; inf if it is below already at the
    first shell past DC (the curve never reaches the threshold inside the band)."""
    below = np.nonzero(curve[1:] < threshold)[0]
    if not len(below):
        return 2.0 * pixel_size
    i = below[0] + 1
    if i == 1:
        # interpolating towards the DC term would give a "resolution" coarser than the box itself
        return float("inf")
    f0, f1, c0, c1 = freqs[i - 1], freqs[i], curve[i - 1], curve[i]
    f = f0 + (c0 - threshold) * (f1 - f0) / (c0 - c1) if c0 != c1 else f1
    return float(pixel_size / f) if f > 0 else float("inf")


def adjusted_rand_index(labels_true, labels_pred) -> float:
    from sklearn.metrics import adjusted_rand_score
    return float(adjusted_rand_score(labels_true, labels_pred))


def confusion_matrix(labels_true, labels_pred) -> np.ndarray:
    """Rows: true classes, columns: predicted clusters."""
    from sklearn.metrics import confusion_matrix as cm
    t, p = np.asarray(labels_true), np.asarray(labels_pred)
    classes = np.union1d(np.unique(t), np.unique(p))
    return cm(t, p, labels=classes)
