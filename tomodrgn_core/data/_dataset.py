"""Device-resident tilt-series data and vectorised per-particle tilt sampling."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from .. import physics as P
from .._proc import proc_kib
from ..errors import TomoDrgnInputError
from ..io import _schema as S
from ._preprocess import CTF_COLUMNS, normalization_std, window_mask


@dataclass
class Batch:
    particles: torch.Tensor  # (B,) particle indices
    rows: torch.Tensor       # (B, n) table rows of the sampled tilts
    ht: torch.Tensor         # (B, n, Pw) normalised Hartley values in the window
    rot: torch.Tensor        # (B, n, 3, 3) pose of each tilt image
    ctf: torch.Tensor        # (B, n, Pw) CTF in the window
    dose: torch.Tensor       # (B, n) cumulative exposure, 300 kV-equivalent (physics.equivalent_exposure)
    tilt_weight: torch.Tensor  # (B, n)

    def encoder_input(self) -> torch.Tensor:
        """What the encoder sees: the images phase-flipped by their CTF's sign, as the reference tomoDRGN encodes
        them (every Fourier component then carries the sign of the volume's, whatever the defocus). The decoder's
        target stays ``ht`` itself: the loss compares it with CTF x prediction."""
        return self.ht * torch.sign(self.ctf)


# the share of free memory that the images and their CTFs may take in memory: the rest is for the model
MEMORY_FRACTION = 0.7


def available_bytes(device: torch.device) -> int:
    """Free memory on the device: CUDA's free memory, or the host's MemAvailable (unknown: unlimited)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    available = proc_kib("/proc/meminfo", "MemAvailable")
    return available * 1024 if available is not None else 2 ** 62


def choose_lazy(preprocessed_path, device, lazy: bool, log=lambda msg: None) -> bool:
    """``lazy`` as asked, or True when the images and their CTFs (float32, as big as each other) would take
    more than MEMORY_FRACTION of the free memory on ``device``: a dataset too big for the GPU streams from
    disk instead of ending in an out-of-memory error."""
    if lazy:
        return True
    device = torch.device(device)
    rows, width = np.load(preprocessed_path, mmap_mode="r").shape
    need, free = 2 * rows * width * 4, available_bytes(device)
    if need <= MEMORY_FRACTION * free:
        return False
    log(f"the {rows} tilt images and their CTFs need {need / 2 ** 30:.1f} GiB, more than "
        f"{MEMORY_FRACTION:.0%} of the {free / 2 ** 30:.1f} GiB free on {device}: streaming them from disk (--lazy)")
    return True


def half_lattice(coords: torch.Tensor):
    """Split the (centrosymmetric) window lattice into pairs (k, -k) so that the decoder runs on half the
    points: one network evaluation gives the Hartley values at both k and -k.

    Returns (half, mirror, mirror_weight): window indices of k (y > 0, or y == 0 and x >= 0), of -k, and a
    0/1 weight that drops the duplicate of the origin (its own mirror).
    """
    D2 = torch.round(coords[:, :2] * 1e6).long()  # exact integer keys for the lookup
    key = {tuple(k): i for i, k in enumerate(D2.tolist())}
    x, y = coords[:, 0], coords[:, 1]
    half = torch.nonzero((y > 0) | ((y == 0) & (x >= 0))).squeeze(1)
    mirror = torch.tensor([key[(-a, -b)] for a, b in D2[half].tolist()], device=coords.device)
    weight = (mirror != half).float()
    return half, mirror, weight


class TiltSeriesData:
    """All per-tilt arrays as tensors on ``device``; images on the device too unless ``lazy``.

    ``lazy``: the preprocessed Hartley rows stay in the on-disk memmap and each batch reads only its rows,
    so memory does not grow with the dataset.
    """

    def __init__(self, particle_set, preprocessed_path, device="cpu", lazy: bool = False, norm_std=None,
                 sample_ntilts: int | None = None):
        t = particle_set.table
        self.device = torch.device(device)
        self.D = particle_set.box
        self.pixel_size = particle_set.pixel_size
        self.n_particles = particle_set.n_particles
        mm = np.load(preprocessed_path, mmap_mode="r")
        self.norm_std = float(norm_std) if norm_std else normalization_std(mm)
        self.lazy = lazy
        self._width, self._path, self._offset = mm.shape[1], str(preprocessed_path), mm.offset
        self.ht = None if lazy else self._load_all(mm)
        del mm  # unmapped: lazy runs read rows with pread
        f32 = dict(device=self.device, dtype=torch.float32)
        self.rot = torch.as_tensor(P.euler_to_matrix(t[S.ROT], t[S.TILT], t[S.PSI]), **f32)
        self.ctf_params = torch.as_tensor(np.array(t[CTF_COLUMNS], dtype=np.float64), **f32)
        # the exposure as it acts at 300 kV: Grant & Grigorieff's critical exposure is 0.8x below 300 kV
        self.dose = P.equivalent_exposure(torch.as_tensor(np.array(t[S.DOSE], dtype=np.float64)),
                                          torch.as_tensor(np.array(t[S.VOLTAGE], dtype=np.float64))).to(**f32)
        self.tilt_weight = torch.as_tensor(np.array(t[S.TILT_WEIGHT], dtype=np.float64), **f32)
        # tilt draws and row indices live where the images do: on the host when they stream from disk (the rows
        # to read are then known without asking the GPU), on the device otherwise
        self.index_device = torch.device("cpu") if lazy else self.device
        self.ntilts = torch.as_tensor(particle_set.ntilts, device=self.index_device)
        self.offsets = torch.as_tensor(particle_set.row_offsets[:-1], device=self.index_device)
        self.min_ntilts = int(particle_set.ntilts.min())
        self.max_ntilts = int(particle_set.ntilts.max())  # static: sampling needs no host sync per batch
        self.n_sample = int(sample_ntilts or self.min_ntilts)
        mask = window_mask(self.D).to(self.device)
        self.coords = P.lattice_2d(self.D, device=self.device)[mask]  # (Pw, 3) cycles/px
        self.freqs = self.coords[:, :2] / self.pixel_size                # (Pw, 2) 1/A
        self.kmag = self.freqs.norm(dim=-1)
        self.half, self.mirror, self.mirror_weight = half_lattice(self.coords)
        # exposure constants of the half-lattice points, once: a step then needs one compare for the dose mask
        # and a gather + exp for the attenuation (fewer kernels per step: batch 1 on GPUs is launch-bound)
        ne = P.critical_exposure(self.kmag[self.half])
        self.optimal_exposure_half = P.OPTIMAL_OVER_CRITICAL * ne                      # (Ph,) inf at k = 0
        self.inv_2ne_half = torch.where(torch.isinf(ne), torch.zeros_like(ne), 0.5 / ne)  # (Ph,) 0 at k = 0
        # in memory, the CTFs are computed once (as big as the images) instead of at every step
        self.ctf = None if lazy else self._ctf_all(len(t))
        self.inference_rows = self._lowest_dose_rows(particle_set)
        self.pad_points: int | None = None  # static decoder padding (see max_kept_points); None: per batch

    def _load_all(self, mm: np.ndarray, chunk: int = 4096) -> torch.Tensor:
        """All normalised images on the device, moved in chunks: the host never holds a second full copy."""
        ht = torch.empty(mm.shape, dtype=torch.float32, device=self.device)
        for s in range(0, len(mm), chunk):
            ht[s:s + chunk] = torch.from_numpy(mm[s:s + chunk] / np.float32(self.norm_std))
        return ht

    def _ctf_all(self, n_rows: int, chunk: int = 4096) -> torch.Tensor:
        """Every image's CTF, filled chunk by chunk into one tensor (a concatenation would hold two copies)."""
        ctf = torch.empty((n_rows, len(self.freqs)), dtype=torch.float32, device=self.device)
        for s in range(0, n_rows, chunk):
            ctf[s:s + chunk] = self._ctf(torch.arange(s, min(n_rows, s + chunk), device=self.device))
        return ctf

    def _lowest_dose_rows(self, particle_set) -> torch.Tensor:
        """(N, n) fixed tilt choice for inference: each particle's n lowest-exposure tilts."""
        dose = particle_set.table[S.DOSE].to_numpy()
        keys = np.full((self.n_particles, int(particle_set.ntilts.max())), np.inf)
        cols = np.arange(keys.shape[1])
        valid = cols[None, :] < particle_set.ntilts[:, None]
        rows = particle_set.row_offsets[:-1, None] + cols[None, :]
        keys[valid] = dose[rows[valid]]
        order = np.argsort(keys, axis=1, kind="stable")[:, : self.n_sample]
        return torch.as_tensor(np.take_along_axis(rows, order, 1), device=self.index_device)

    def max_kept_points(self, dose_mask: bool) -> int:
        """The most (tilt, half-lattice point) pairs any batch element can keep after the dose mask. Fewer points
        survive at higher exposure, so that is the kept count of a particle's n least-exposed tilts (its
        inference rows), maximised over particles. A static padding length for batch_loss (no device->host sync
        per step, one shape for every step)."""
        if not dose_mask:
            return self.n_sample * len(self.half)
        kept = torch.cat([(self.dose[s:s + 4096, None] <= self.optimal_exposure_half).sum(1)
                          for s in range(0, len(self.dose), 4096)])
        return int(kept[self.inference_rows.to(kept.device)].sum(1).max())

    def _row_buffer(self, n: int) -> torch.Tensor:
        """Room for n rows, page-locked when they go to a GPU (an asynchronous upload needs it)."""
        return torch.empty((n, self._width), dtype=torch.float32, pin_memory=self.device.type == "cuda")

    def _read_rows(self, rows: np.ndarray, out: torch.Tensor) -> torch.Tensor:
        """Normalised rows of the preprocessed file, read straight into ``out`` by positioned reads: no mapping
        (resident memory stays flat) and no allocation (a reader thread then leaves no heap of its own behind)."""
        view = out.numpy()
        nbytes = self._width * 4
        fd = os.open(self._path, os.O_RDONLY)
        try:
            for i, r in enumerate(rows):  # a few dozen rows per batch; the reads release the GIL
                if os.preadv(fd, [view[i]], self._offset + int(r) * nbytes) != nbytes:
                    raise TomoDrgnInputError(f"preprocessed images end before row {int(r)}", path=self._path,
                                             fix="delete this cache file and run again: it is rebuilt")
        finally:
            os.close(fd)
        np.divide(view, np.float32(self.norm_std), out=view)  # as the in-memory images, to the last bit
        return out

    def _ctf(self, rows: torch.Tensor) -> torch.Tensor:
        p = self.ctf_params[rows]
        # (premultiplied images were divided by their CTF in preprocessing: every row carries one CTF)
        return P.compute_ctf(self.freqs, *(p[:, i] for i in range(p.shape[1])))

    def sample_rows(self, particles: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, n) random tilts per particle without replacement, re-drawn at every call (vectorised)."""
        nmax, dev = self.max_ntilts, self.index_device
        keys = torch.rand(len(particles), nmax, device=dev, generator=generator)
        # a particle's missing tilt slots sort last (masked_fill: no boolean indexing, no host sync)
        keys = keys.masked_fill(torch.arange(nmax, device=dev)[None, :] >= self.ntilts[particles][:, None], 2.0)
        pick = keys.argsort(dim=1)[:, : self.n_sample]
        return self.offsets[particles][:, None] + pick

    def batch(self, particles: torch.Tensor, random: bool, generator=None) -> Batch:
        """Particles' tilts (random draw, or the fixed inference choice); ``particles`` and ``generator`` on
        ``index_device``."""
        rows = self._rows(particles, random, generator)
        ht = self._read_rows(rows.reshape(-1).numpy(), self._row_buffer(rows.numel())) if self.lazy else None
        return self._on_device(particles, rows, ht)

    def batches(self, chunks, random: bool, generator=None):
        """batch() for each chunk of particle indices, in order. Streaming from disk, a reader thread reads the
        next batch while the current one trains (the tilt draws stay here, in the same order as batch())."""
        if not self.lazy:
            for particles in chunks:
                yield self.batch(particles, random, generator)
            return
        with ThreadPoolExecutor(1, thread_name_prefix="tomodrgn-reader") as reader:
            pending = None
            for particles in chunks:
                rows = self._rows(particles, random, generator)
                buffer = self._row_buffer(rows.numel())  # allocated here, filled there
                read = reader.submit(self._read_rows, rows.reshape(-1).numpy(), buffer)
                if pending:
                    yield self._on_device(pending[0], pending[1], pending[2].result())
                pending = (particles, rows, read)
            if pending:
                yield self._on_device(pending[0], pending[1], pending[2].result())

    def _rows(self, particles, random: bool, generator) -> torch.Tensor:
        return self.sample_rows(particles, generator) if random else self.inference_rows[particles]

    def _on_device(self, particles, rows, ht) -> Batch:
        flat = rows.reshape(-1)
        if self.lazy:  # page-locked host tensors: the uploads do not wait for the GPU to catch up
            pin = self.device.type == "cuda"
            flat = (flat.pin_memory() if pin else flat).to(self.device, non_blocking=pin)
            ht = ht.to(self.device, non_blocking=pin)
        else:
            ht = self.ht[flat]
        ctf = self._ctf(flat) if self.ctf is None else self.ctf[flat]
        B, n = rows.shape
        return Batch(particles, rows, ht.reshape(B, n, -1), self.rot[flat].reshape(B, n, 3, 3),
                     ctf.reshape(B, n, -1), self.dose[flat].reshape(B, n), self.tilt_weight[flat].reshape(B, n))
