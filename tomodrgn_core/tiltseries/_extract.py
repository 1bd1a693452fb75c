"""Cropping particle boxes out of whole tilt images (batched over particles, one pass per tilt)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import TomoDrgnInputError
from ..physics.resample import fourier_crop_2d


@dataclass
class ExtractedTilts:
    images: np.ndarray    # (n, nt, d, d) float32; zeros where not visible
    origins: np.ndarray   # (n, nt, 2) px of the OUTPUT images, RELION origin: particle centre = box centre - origin
    visible: np.ndarray   # (n, nt) bool: the whole box lies inside the tilt image
    box: int              # d, output box (px)
    binning: int

    @property
    def n_dropped(self) -> int:
        return int((~self.visible).sum())


def background_normalise(images: np.ndarray, radius_frac: float = 0.75) -> np.ndarray:
    """RELION-style: zero mean, unit std over the pixels outside a circle of radius radius_frac * box / 2."""
    d = images.shape[-1]
    ax = np.arange(d) - d // 2
    ring = (ax[None, :] ** 2 + ax[:, None] ** 2) > (radius_frac * d / 2) ** 2
    images = np.asarray(images, np.float64)  # float32 statistics lose digits on large offsets
    bg = images[..., ring]
    mean = bg.mean(-1)[..., None, None]
    std = bg.std(-1)[..., None, None]
    return ((images - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def extract_particle_tilts(tilt_stack, positions: np.ndarray, box: int, binning: int = 1, invert: bool = True,
                           normalise: bool = False) -> ExtractedTilts:
    """Crop ``box`` px around round(position) in each tilt of ``tilt_stack`` (nt, H, W) (array or mmap).

    The sub-pixel remainder becomes the per-tilt origin, crop centre - position (RELION's sign: the particle
    sits at box centre - origin; physics/_geometry.py), with no interpolation of the data. A tilt whose box
    leaves the image is dropped (visible False), never padded. ``binning`` > 1 Fourier-crops to
    box // binning. ``invert`` flips contrast: raw micrographs have dark protein, particle images in the
    tomoDRGN/Warp convention white protein.
    """
    pos = np.asarray(positions, float)
    n, nt, _ = pos.shape
    if tilt_stack.shape[0] != nt:
        raise TomoDrgnInputError(f"{nt} tilts in positions but {tilt_stack.shape[0]} images in the tilt stack",
                                 fix="give one tilt angle (and one transform) per image of the stack")
    if binning < 1 or box % binning or (box // binning) % 2:
        raise TomoDrgnInputError(f"box {box} with binning {binning}: the particle box must divide into an even "
                                 "binned box", fix="e.g. -D 64 with --bin 1, 2 or 4")
    H, W = tilt_stack.shape[1:]
    centre = np.rint(pos).astype(np.int64)
    origins = centre - pos
    start = centre - box // 2  # (x0, y0) of each crop
    visible = (start >= 0).all(-1) & (start[..., 0] + box <= W) & (start[..., 1] + box <= H)
    d = box // binning
    out = np.zeros((n, nt, d, d), np.float32)
    ar = np.arange(box)
    sign = -1.0 if invert else 1.0
    for t in range(nt):  # one tilt image in memory at a time; particles batched by fancy indexing
        sel = np.flatnonzero(visible[:, t])
        if not len(sel):
            continue
        img = np.asarray(tilt_stack[t], np.float32)
        rows = start[sel, t, 1][:, None] + ar
        cols = start[sel, t, 0][:, None] + ar
        crops = sign * img[rows[:, :, None], cols[:, None, :]]
        if binning > 1:
            crops = fourier_crop_2d(crops, d)
        out[sel, t] = background_normalise(crops) if normalise else crops
    return ExtractedTilts(out, origins / binning, visible, d, binning)
