"""Particles with known maps at the poses, shifts, CTFs and exposures of a real STAR (``simulate_from_star``).

The blob simulator draws its own poses; this one borrows every acquisition parameter of an existing image-series
STAR (e.g. the reference tomoDRGN's cryoSRPNT fixture) and only replaces the images: each tilt image becomes
the projection of the map of its particle's class, formed exactly as physics/_geometry.py says the STAR means it
(pose A maps volume to image coordinates; the particle sits at box centre - origin), multiplied by the CTF and
the exposure attenuation, plus white Gaussian noise to a given SNR. Protein stays positive in the projection
(no contrast inversion, like the cryoSRPNT stacks): read the result with ``--uninvert-data``.
The projection itself is checked against data we did not make: on the cryoSRPNT fixture's clean set it matches
the shipped images at CC 0.99 per image (tests/core/test_simulate_from_star.py).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .. import physics as P
from ..errors import TomoDrgnInputError
from ..io import load_particles, read_volume, write_image_series
from ..io import _schema as S

CTF_COLUMNS = [S.DEFOCUS_U, S.DEFOCUS_V, S.DEFOCUS_ANGLE, S.VOLTAGE, S.CS, S.AMP_CONTRAST, S.PHASE_SHIFT]


def project_volume(volume: torch.Tensor, rot: torch.Tensor, chunk: int = 32) -> torch.Tensor:
    """Projections (n, D, D) along image z of ``volume`` (D, D, D; vol[z, y, x]) at poses ``rot`` (n, 3, 3).

    Image point x (relative to the box centre, x = (x, y, z)) sees the volume at A^T x (A maps volume to image
    coordinates); trilinear sampling, summed along z. Batched with grid_sample, ``chunk`` images at a time."""
    D = volume.shape[-1]
    ax = torch.arange(D, dtype=torch.float32) - D // 2
    z, y, x = torch.meshgrid(ax, ax, ax, indexing="ij")
    pts = torch.stack([x, y, z], -1).reshape(-1, 3)
    vol = volume.to(torch.float32)[None, None]
    out = []
    for s in range(0, len(rot), chunk):
        A = rot[s:s + chunk].to(torch.float32)
        r = pts @ A  # row vectors: x^T A = (A^T x)^T, the volume coordinates of every image-space point
        grid = ((r + D // 2 + 0.5) * (2.0 / D) - 1).reshape(len(A), D, D, D, 3)  # voxel centres, align_corners=False
        out.append(F.grid_sample(vol.expand(len(A), -1, -1, -1, -1), grid, align_corners=False)[:, 0].sum(1))
    return torch.cat(out) if out else torch.zeros((0, D, D))


def remove_domain(volume: np.ndarray, fraction: float = 0.3, edge_px: float = 2.0) -> np.ndarray:
    """``volume`` without the part of its density farthest along its longest axis (about ``fraction`` of the
    positive mass), cut with a soft cosine edge of ``edge_px``: a second, clearly different class."""
    vol = np.asarray(volume, dtype=np.float64)
    D = vol.shape[0]
    ax = np.arange(D) - D // 2
    z, y, x = np.meshgrid(ax, ax, ax, indexing="ij")
    xyz = np.stack([x, y, z], -1).reshape(-1, 3).astype(np.float64)
    w = np.clip(vol.reshape(-1), 0, None)
    centre = (w[:, None] * xyz).sum(0) / w.sum()
    d = xyz - centre
    cov = (w[:, None, None] * d[:, :, None] * d[:, None, :]).sum(0) / w.sum()
    axis = np.linalg.eigh(cov)[1][:, -1]  # the principal axis of the density
    along = d @ axis
    order = np.argsort(-along)
    cut = along[order[np.searchsorted(np.cumsum(w[order]) / w.sum(), fraction)]]
    t = np.clip((along - cut) / edge_px + 0.5, 0, 1)  # 0 below the cut plane, 1 edge_px above it
    keep = 0.5 * (1 + np.cos(np.pi * t))
    return (vol.reshape(-1) * keep).reshape(vol.shape).astype(np.float32)


def simulate_from_star(star, maps, labels, out_star, snr: float | None = 0.1, seed: int = 0, datadir=None,
                       source_software: str = "auto", overwrite: bool = False) -> Path:
    """Write ``out_star`` (+ its .mrcs, our Warp-style image-series STAR) with the acquisition of ``star``.

    ``maps``: volumes (arrays or MRC paths) of box = the STAR's box. ``labels`` (n_out,): the class (index into
    ``maps``) of every output particle; n_out must be a multiple of the STAR's particles, which are then used
    n_out / N times (copy k: particles k N .. (k + 1) N - 1, same poses and CTFs, fresh noise).
    ``snr``: signal variance / noise variance over all images (None: noise-free). A STAR without CTF columns
    (read as CTF-free) gives images without CTF or attenuation. Returns ``out_star``."""
    ps = load_particles(star, source_software, datadir)
    vols = [np.asarray(read_volume(m)[0] if isinstance(m, (str, Path)) else m, dtype=np.float32) for m in maps]
    for k, v in enumerate(vols):
        if v.shape != (ps.box,) * 3:
            raise TomoDrgnInputError(f"map {k} has shape {v.shape}, the particles have box {ps.box}",
                                     fix="give maps of the particles' box (tomodrgn downsample, or resample the map)")
    labels = np.asarray(labels, dtype=np.int64)
    N = ps.n_particles
    if labels.ndim != 1 or len(labels) == 0 or len(labels) % N:
        raise TomoDrgnInputError(f"{len(labels)} labels for a STAR of {N} particles",
                                 fix=f"give one label per output particle, a multiple of {N}")
    if labels.min() < 0 or labels.max() >= len(vols):
        raise TomoDrgnInputError(f"labels must lie in 0..{len(vols) - 1} (one per map)", fix="check the labels")
    table = _repeat_table(ps.table, N, len(labels) // N)
    rows_label = labels[table[S.PARTICLE_INDEX].to_numpy()]
    rot = torch.as_tensor(P.euler_to_matrix(table[S.ROT], table[S.TILT], table[S.PSI]), dtype=torch.float32)
    proj = torch.empty((len(table), ps.box, ps.box), dtype=torch.float64)
    for k, v in enumerate(vols):  # one batched projection per class
        rows = np.flatnonzero(rows_label == k)
        if len(rows):
            proj[rows] = project_volume(torch.from_numpy(v), rot[rows]).double()
    images = _form_images(proj, table, ps.pixel_size, ps.has_ctf)
    if snr is not None:
        rng = np.random.default_rng(seed)
        images = images + rng.normal(scale=np.sqrt(images.var() / snr), size=images.shape)
    return write_image_series(table, images.astype(np.float32), out_star, overwrite=overwrite)


def _repeat_table(table: pd.DataFrame, n_particles: int, copies: int) -> pd.DataFrame:
    parts = []
    for k in range(copies):
        t = table.copy()
        t[S.PARTICLE_INDEX] = t[S.PARTICLE_INDEX] + k * n_particles
        if k:
            t[S.PARTICLE_ID] = t[S.PARTICLE_ID].astype(str) + f"_copy{k}"
        parts.append(t)
    return pd.concat(parts, ignore_index=True)


def _form_images(proj: torch.Tensor, table: pd.DataFrame, pixel_size: float, has_ctf: bool) -> np.ndarray:
    """CTF x exposure attenuation x projection, with the particle moved to box centre - origin."""
    n, D = proj.shape[0], proj.shape[-1]
    lat = P.lattice_2d(D, dtype=torch.float64)[:, :2]
    freqs = lat / pixel_size
    origin = torch.tensor(table[[S.SHIFT_X, S.SHIFT_Y]].to_numpy(np.float64) / pixel_size)
    # the particle sits at box centre - origin: the centred projection moves by -origin (centre_images undoes it)
    f = P.fft2_center(P.shift_images(proj, -origin)).reshape(n, -1)
    if has_ctf:
        p = np.array(table[CTF_COLUMNS], dtype=np.float64)
        h = P.compute_ctf(freqs, *(torch.from_numpy(np.ascontiguousarray(p[:, i])) for i in range(p.shape[1])))
        h = h * P.dose_attenuation(torch.tensor(table[S.DOSE].to_numpy(np.float64)), freqs.norm(dim=-1),
                                   torch.tensor(table[S.VOLTAGE].to_numpy(np.float64)))
        f = f * h
    return P.ifft2_center(f.reshape(n, D, D)).real.numpy()
