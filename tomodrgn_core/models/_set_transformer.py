"""The set transformer (Lee et al. 2019, "Set Transformer", ICML) used by --pooling-function set_encoder, with the
reference tomoDRGN's layout: two induced self-attention blocks (ISAB, 32 inducing points) encode the set of
per-tilt encodings, pooling by multi-head attention (PMA, one seed) and two self-attention blocks (SAB) decode
it, and a linear layer gives (mu, logvar). Width = --enc-dim-B, 4 heads, no layer norm: the reference's defaults.

Attention block (MAB) as in the paper's code, which the reference keeps: H = Q' + softmax(Q' K'^T / sqrt(d)) V'
(Q', K', V' linear maps, d the full width even with several heads), then H + ReLU(Linear(H)).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MAB(nn.Module):
    """Multihead attention block: queries ``q`` (B, m, dim_q) attend to ``k`` (B, n, dim_k) -> (B, m, dim)."""

    def __init__(self, dim_q: int, dim_k: int, dim: int, heads: int, layer_norm: bool = False):
        super().__init__()
        if dim % heads:
            raise ValueError(f"set transformer width {dim} is not divisible by its {heads} attention heads")
        self.heads, self.scale = heads, dim ** -0.5
        self.fc_q, self.fc_k, self.fc_v = nn.Linear(dim_q, dim), nn.Linear(dim_k, dim), nn.Linear(dim_k, dim)
        self.fc_o = nn.Linear(dim, dim)
        self.ln0 = nn.LayerNorm(dim) if layer_norm else nn.Identity()
        self.ln1 = nn.LayerNorm(dim) if layer_norm else nn.Identity()

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, dim) -> (B, heads, L, dim / heads)
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        q = self.fc_q(q)
        attn = F.scaled_dot_product_attention(self._split(q), self._split(self.fc_k(k)), self._split(self.fc_v(k)),
                                              scale=self.scale)
        h = self.ln0(q + attn.transpose(1, 2).flatten(-2))
        return self.ln1(h + torch.relu(self.fc_o(h)))


class SAB(nn.Module):
    def __init__(self, dim_in: int, dim: int, heads: int, layer_norm: bool = False):
        super().__init__()
        self.mab = MAB(dim_in, dim_in, dim, heads, layer_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mab(x, x)


class ISAB(nn.Module):
    """Self-attention through ``inducing`` learned points: O(n * inducing) instead of O(n^2)."""

    def __init__(self, dim_in: int, dim: int, heads: int, inducing: int, layer_norm: bool = False):
        super().__init__()
        self.points = nn.Parameter(nn.init.xavier_uniform_(torch.empty(1, inducing, dim)))
        self.mab0 = MAB(dim, dim_in, dim, heads, layer_norm)
        self.mab1 = MAB(dim_in, dim, dim, heads, layer_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.mab0(self.points.expand(len(x), -1, -1), x)
        return self.mab1(x, h)


class PMA(nn.Module):
    """Pooling by multihead attention: ``seeds`` learned queries attend to the set."""

    def __init__(self, dim: int, heads: int, seeds: int, layer_norm: bool = False):
        super().__init__()
        self.seeds = nn.Parameter(nn.init.xavier_uniform_(torch.empty(1, seeds, dim)))
        self.mab = MAB(dim, dim, dim, heads, layer_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mab(self.seeds.expand(len(x), -1, -1), x)


class SetTransformer(nn.Module):
    """(B, n, dim_in) set -> (B, dim_out), invariant to the order of the n elements."""

    def __init__(self, dim_in: int, dim_out: int, dim: int = 128, heads: int = 4, inducing: int = 32,
                 layer_norm: bool = False):
        super().__init__()
        self.encode = nn.Sequential(ISAB(dim_in, dim, heads, inducing, layer_norm),
                                    ISAB(dim, dim, heads, inducing, layer_norm))
        self.decode = nn.Sequential(PMA(dim, heads, 1, layer_norm), SAB(dim, dim, heads, layer_norm),
                                    SAB(dim, dim, heads, layer_norm), nn.Linear(dim, dim_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))[:, 0]
