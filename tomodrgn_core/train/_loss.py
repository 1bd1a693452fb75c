"""Loss of one batch: only the dose-masked lattice points of every sampled tilt go through the decoder,
gathered into ONE flat decoder call (tilts x points), so no work is spent on masked frequencies; and only
half of them, since one evaluation at k gives the Hartley values at k and -k (the dose mask is symmetric).

prediction = CTF * dose attenuation * decoder(lattice @ A_tilt, z): the image formation itself (the tilt image
went through its exposure's amplitude loss); squared error optionally weighted per frequency by the attenuation
(--recon-dose-weight) and per tilt by cos(tilt) (--recon-tilt-weight), averaged over the points. The paper and
the reference predict CTF * decoder and use the attenuation as the weight only: on a 31-tilt set exposed to
90 e/A^2 that separated two classes worse (ARI 0.81 vs 0.97 for this model, 15 epochs) and on the low-exposure
cryoSRPNT fixture it made no difference (train_nn CC 0.749 vs 0.743); README "Where we differ from the reference".
VAE: + beta * KLD / (D^2 * ntilts) with beta = 1/zdim by default, i.e. the paper's KLD weight 1 / (|z| D^2 t)
(KLD summed over zdim, averaged over the batch). The reference divides by the points the dose mask keeps for a
particle instead, which ties the KLD weight to the exposure (1.4x stronger on the demo's set, more where the
mask drops more): that separated the demo's classes worse (18 of 200 particles misassigned, ARI 0.67, vs 9,
ARI 0.83) and the cryoSRPNT two-class set no better (README "Where we differ from the reference").
With --beta-control gamma (cryoDRGN's KL-controlled VAE) beta is instead a KLD target:
+ gamma * (beta - KLD)^2 / (D^2 * ntilts). The encoder sees the images phase-flipped by their CTF
(Batch.encoder_input).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LossTerms:
    loss: torch.Tensor
    mse: torch.Tensor
    kld: torch.Tensor
    mu: torch.Tensor | None = None
    logvar: torch.Tensor | None = None


def batch_loss(model, batch, data, beta: "float | torch.Tensor", dose_mask: bool = True, dose_weight: bool = True,
               tilt_weight: bool = True, sample_z: bool = True, beta_control: float | None = None) -> LossTerms:
    B, n, Pw = batch.ht.shape
    T = B * n
    dose = batch.dose.reshape(T)
    Ph = len(data.half)
    # = physics.dose_mask(dose, kmag of the half lattice), with the exposure constants precomputed
    keep = (dose[:, None] <= data.optimal_exposure_half if dose_mask
            else torch.ones(T, Ph, dtype=torch.bool, device=dose.device))
    # per particle, move its kept (tilt, point) pairs to the front and pad to the batch's largest count: the
    # decoder then runs on (B, M) points and z broadcasts per particle (a gather of z per point would make
    # the backward pass an atomic scatter onto a handful of addresses: very slow on GPUs at small batch)
    keep = keep.reshape(B, n * Ph)
    counts = keep.sum(1)
    # static padding (data.pad_points, set on GPUs) avoids a device->host sync per step; else pad to this batch
    M = data.pad_points or int(counts.max())
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)[:, :M]  # (B, M) kept first
    valid = torch.arange(M, device=dose.device)[None, :] < counts[:, None]
    t_idx = order // Ph + torch.arange(B, device=dose.device)[:, None] * n  # (B, M) image index in 0..T-1
    h_idx = order % Ph
    p_idx, m_idx = data.half[h_idx], data.mirror[h_idx]
    rot = batch.rot.reshape(T, 3, 3)
    # posed central-section points, c_j = sum_i c_i R_ij, elementwise: autocast would run a product in bf16
    coords = (data.coords[p_idx][..., :, None] * rot[t_idx]).sum(-2)
    mu = logvar = None
    z = None
    if model.zdim:
        mu, logvar = model.encode(batch.encoder_input())
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample_z else mu
        z = z[:, None, :]  # (B, 1, zdim): broadcast over the particle's points
    ht_k, ht_mk = model.decoder.pair(coords, z)  # Hartley values at k and -k from one evaluation
    ctf = batch.ctf.reshape(T, Pw)
    target = batch.ht.reshape(T, Pw)
    w_mirror = data.mirror_weight[h_idx]
    # the per-point weights carry no gradient: combine them first, so the backward pass has fewer kernels
    att = torch.exp(-dose[t_idx] * data.inv_2ne_half[h_idx])  # = physics.dose_attenuation at the kept points
    vf = valid.to(att.dtype)
    w = vf * att if dose_weight else vf
    if tilt_weight:
        w = w * batch.tilt_weight.reshape(T)[t_idx]
    res_k = (ctf[t_idx, p_idx] * att) * ht_k - target[t_idx, p_idx]
    res_mk = (ctf[t_idx, m_idx] * att) * ht_mk - target[t_idx, m_idx]
    mse = (w * (res_k.square() + w_mirror * res_mk.square())).sum() / ((1 + w_mirror) * vf).sum()
    if model.zdim:
        kld = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
        penalty = beta * kld if beta_control is None else beta_control * (beta - kld) ** 2
        loss = mse + penalty / (data.D ** 2 * n)  # the paper's 1 / (D^2 t), whatever the dose mask keeps
    else:
        kld = torch.zeros((), device=mse.device)
        loss = mse
    return LossTerms(loss, mse, kld, mu, logvar)


class TrainStep(torch.nn.Module):
    """The loss as a module's forward, so DistributedDataParallel sees (and synchronises) every call."""

    def __init__(self, model, data, beta: float, dose_mask: bool, dose_weight: bool, tilt_weight: bool,
                 beta_control: float | None = None):
        super().__init__()
        self.model = model
        self.data = data  # not a module: plain tensors shared with evaluation
        # beta lives in a tensor updated in place: a --beta-schedule then changes no Python constant that a
        # compiled step (--compile, CUDA graphs) would have baked in
        self.register_buffer("beta_t", torch.tensor(float(beta), device=data.device), persistent=False)
        self.flags, self.beta_control = (dose_mask, dose_weight, tilt_weight), beta_control

    def forward(self, batch):
        t = batch_loss(self.model, batch, self.data, self.beta_t, *self.flags, beta_control=self.beta_control)
        return t.loss, t.mse, t.kld
