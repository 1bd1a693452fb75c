"""FT positional decoder: Gaussian random Fourier features of 3D frequency coordinates (+ z) -> Hartley value.

Coordinates are in cycles/px, within [-0.5, 0.5]. Features: sin/cos of coords projected on 3 * (D // 2)
random directions drawn from feat_sigma * N(0, 1) and scaled by D // 2, WITHOUT a 2 pi factor, exactly as
cryoDRGN/tomoDRGN's 'gaussian' encoding: the phases are c . f radians, so the features span real-space
positions |f| / (2 pi) ~ feat_sigma * D / 12.6 px. That low-frequency basis is the decoder's smoothness
prior; with an extra 2 pi (features 6x finer) the decoder fits noise and loses to back-projection in FSC.
Hermitian symmetry is built in: the network only sees the half-space c . v >= 0 (v a fixed generic
vector); it predicts (Re F, Im F) there, and HT(c) = Re - s Im with s = +1 for c in the half-space and
s = -1 for its mirror -c, which is exactly the Hartley value of a real volume.
"""
import torch
from torch import nn

from ._mlp import mlp

HALF_SPACE = (0.1234, 0.5678, 1.0)
# recorded in every checkpoint's model config: pre-release checkpoints (features with an extra 2 pi) lack it
FEATURES = "gaussian-cryodrgn"


class FTPositionalDecoder(nn.Module):
    def __init__(self, box: int, zdim: int, hidden: int, layers: int, feat_sigma: float = 0.5, seed: int = 0):
        super().__init__()
        self.box, self.zdim = box, zdim
        g = torch.Generator().manual_seed(seed)
        freqs = torch.randn(3 * (box // 2), 3, generator=g) * feat_sigma * (box // 2)
        self.register_buffer("freqs", freqs)  # saved in checkpoints: volumes need the same features
        self.register_buffer("half_space", torch.tensor(HALF_SPACE))
        self.net = mlp(2 * freqs.shape[0] + zdim, hidden, layers, 2)

    def phases(self, coords: torch.Tensor) -> torch.Tensor:
        """c . f in radians (no 2 pi: see the module docstring) for coords (..., 3) -> (..., n_features).

        Three float32 multiply-adds, not a matrix product: autocast would run a product in bf16 (phase errors of
        0.2-0.6 rad at box 64-128, features trained on differ from those evaluated) and TF32 still loses 0.01 rad;
        the coordinates carry no gradient, so this costs no backward work either."""
        c, f = coords.float(), self.freqs
        return torch.addcmul(torch.addcmul(c[..., 0:1] * f[:, 0], c[..., 1:2], f[:, 1]), c[..., 2:3], f[:, 2])

    def _re_im(self, coords: torch.Tensor, z: torch.Tensor | None):
        hs = self.half_space
        # the half-space side, in float32 elementwise for the same reason as the phases
        s = torch.where(coords[..., 0] * hs[0] + coords[..., 1] * hs[1] + coords[..., 2] * hs[2] >= 0, 1.0, -1.0)
        k = self.phases(coords) * s[..., None]  # = phases(s * c): the mirror point's phases
        x = torch.cat([torch.sin(k), torch.cos(k)], -1)
        if self.zdim:
            x = torch.cat([x, z.expand(*x.shape[:-1], self.zdim).to(x.dtype)], -1)
        out = self.net(x).float()
        return out[..., 0], s.float() * out[..., 1]

    def forward(self, coords: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """coords (..., 3), z (..., zdim) broadcastable to coords' leading dims -> Hartley values (...)."""
        re, im = self._re_im(coords, z)
        return re - im

    def pair(self, coords: torch.Tensor, z: torch.Tensor | None = None):
        """Hartley values at coords AND at -coords from one network evaluation."""
        re, im = self._re_im(coords, z)
        return re - im, re + im
