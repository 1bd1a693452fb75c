"""Once-per-dataset preprocessing, cached on disk and reused by every later run and by analysis.

Each tilt image is contrast-inverted (unless ``invert_data`` is False, or it is CTF-premultiplied), multiplied by
the real-space soft window (data/_window.py; the reference tomoDRGN's, on by default), moved by
+origin (RELION's origin: the particle sits at box centre - origin; physics/_geometry.py), Hartley-transformed, and its values inside the circular window
(radius D//2) are stored as one float32 row of a .npy memmap: (n_rows, n_window_points).

CTF-premultiplied images (WarpTools / RELION 5 2D stacks: h x (h x volume + noise), where h = CTF x exposure
weight, what RELION multiplies them by on extraction) are divided by that h here, h / max(h^2, floor), which gives
back h x volume + noise: the plain image the forward model and the encoder expect, with its own noise level. Trained on CTF^2 x volume instead, the decoder gets almost no
gradient at low resolution (CTF^2 ~ 0.005 near the origin), and the low-resolution map never forms.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from .. import physics as P
from ..io import _schema as S
from ._window import WINDOW, soft_window


def window_mask(D: int) -> torch.Tensor:
    """(D*D,) bool: the lattice points that the encoder sees and the decoder predicts."""
    return P.circular_mask(D, radius=D // 2 - 0.5)


CTF_COLUMNS = [S.DEFOCUS_U, S.DEFOCUS_V, S.DEFOCUS_ANGLE, S.VOLTAGE, S.CS, S.AMP_CONTRAST, S.PHASE_SHIFT]
# where CTF^2 is below this (near its zeros), a premultiplied value is divided by the floor instead: the
# division would only amplify rounding there (the origin, CTF^2 ~ amplitude contrast^2 ~ 0.005, stays above it)
PREMULTIPLIED_CTF2_FLOOR = 1e-3


def cache_key(particle_set, invert_data: bool, window=WINDOW) -> str:
    """Identifies a dataset's preprocessing: STAR path + mtime, row count, box, inversion, real-space window."""
    st = os.stat(particle_set.star_path)
    premultiplied = int(particle_set.table[S.CTF_PREMULTIPLIED].sum())  # (their sign is kept: see image_sign)
    stamp = [str(Path(particle_set.star_path).resolve()), st.st_mtime_ns, len(particle_set.table),
             particle_set.box, bool(invert_data), premultiplied,
             "centred-by-plus-origin",  # caches from before the shift-sign fix (centred by -origin) are not reused
             "window", list(window) if window else None]
    if premultiplied:  # caches written before premultiplied images were divided by their CTF are not reused
        stamp.append("premultiplied-ctf-and-exposure-divided")
    stamp = json.dumps(stamp)
    return hashlib.sha1(stamp.encode()).hexdigest()[:12]


# images per preprocessing chunk: 4 MiB of float64 pixels (128 at box 64). Small chunks keep the peak memory
# low, and flat as the data grows: big FFT temporaries, allocated and freed chunk after chunk, fragment the heap
# (preprocessing 4x the particles peaked 12% higher with 1024-image chunks; 7% with these, at 40% of the memory)
CHUNK_BYTES = 4 * 2 ** 20


def preprocess(particle_set, cache_dir, invert_data: bool = True, chunk: int | None = None, log=print,
               window=WINDOW) -> Path:
    """Write (or reuse) ``cache_dir/preprocessed.<key>.npy``; returns its path. ``window``: (inner, outer) radii
    of the real-space soft window (data/_window.py), or None for none."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"preprocessed.{cache_key(particle_set, invert_data, window)}.npy"
    if path.exists():
        log(f"reusing preprocessed images {path}")
        return path
    t = particle_set.table
    D = particle_set.box
    chunk = chunk or max(8, CHUNK_BYTES // (8 * D * D))
    inside = window_mask(D)
    n = len(t)
    tmp = path.with_suffix(".partial.npy")
    sign = P.image_sign(invert_data, t[S.CTF_PREMULTIPLIED].to_numpy())
    premultiplied = np.array(t[S.CTF_PREMULTIPLIED], dtype=bool)
    freqs = P.lattice_2d(D, dtype=torch.float64)[inside][:, :2] / particle_set.pixel_size  # window order, 1/A
    ctf_params = np.array(t[CTF_COLUMNS], dtype=np.float64)
    shifts = t[[S.SHIFT_X, S.SHIFT_Y]].to_numpy(np.float64) / particle_set.pixel_size
    doses = t[S.DOSE].to_numpy(np.float64)
    # plain sequential writes and unmapped stacks after each chunk: memory stays flat as the data grows
    with open(tmp, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                                 "shape": (n, int(inside.sum()))})
        for s0 in range(0, n, chunk):
            rows = np.arange(s0, min(n, s0 + chunk))
            img = torch.from_numpy(particle_set.images(rows) * sign[rows, None, None])
            if window:  # in the box frame, before centring: where the reference windows them
                img = img * soft_window(D, *window)
            img = P.centre_images(img, torch.from_numpy(np.ascontiguousarray(shifts[rows])))
            ht = P.ht2_center(img).reshape(len(rows), -1)[:, inside]
            if premultiplied[rows].any():
                ht = ht * divide_premultiplied(freqs, ctf_params[rows], premultiplied[rows], doses[rows])
            ht.numpy().astype("<f4").tofile(f)
            particle_set.close_stacks()
    os.replace(tmp, path)
    log(f"preprocessed {n} tilt images -> {path}")
    return path


def divide_premultiplied(freqs: torch.Tensor, ctf_params: np.ndarray, premultiplied: np.ndarray,
                         doses: np.ndarray) -> torch.Tensor:
    """(n, npix) factors that turn premultiplied rows back into plain ones: h / max(h^2, floor) with
    h = CTF x exposure attenuation; 1 for plain rows. h is symmetric in k, so the factor applies to Hartley values
    as to Fourier ones."""
    ctf = P.compute_ctf(freqs, *(torch.from_numpy(np.ascontiguousarray(ctf_params[:, i]))
                                 for i in range(ctf_params.shape[1])))
    h = ctf * P.dose_attenuation(torch.from_numpy(np.ascontiguousarray(doses)), freqs.norm(dim=-1))
    factor = h / h.square().clamp(min=PREMULTIPLIED_CTF2_FLOOR)
    return torch.where(torch.from_numpy(premultiplied)[:, None], factor, torch.ones_like(factor))


def normalization_std(ht: np.ndarray, max_rows: int = 1024) -> float:
    """Std of the Hartley values over (a sample of) the dataset, used to scale targets to ~unit variance."""
    idx = np.linspace(0, len(ht) - 1, min(len(ht), max_rows)).astype(np.int64)
    return float(np.asarray(ht[idx], dtype=np.float64).std())
