"""Tilt-series encoder: encoder A per tilt image -> pooling over the sampled tilts -> encoder B -> (mu, logvar)."""
import torch
from torch import nn

from ._mlp import mlp

POOLING = ("concatenate", "max", "mean", "median", "set_encoder")


class SetPooling(nn.Module):
    """Permutation-invariant attention pooling (a set-transformer PMA block with one learned seed)."""

    def __init__(self, dim: int, heads: int = 4):
        super().__init__()
        heads = heads if dim % heads == 0 else 1
        self.seed = nn.Parameter(torch.randn(1, 1, dim) / dim ** 0.5)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ff = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, n, d) -> (B, d)
        q = self.seed.expand(len(x), -1, -1)
        pooled, _ = self.attn(q, x, x, need_weights=False)
        return self.ff(pooled[:, 0])


class TiltSeriesEncoder(nn.Module):
    def __init__(self, in_dim: int, ntilts: int, zdim: int, enc_dim_A: int = 256, enc_layers_A: int = 3,
                 out_dim_A: int = 128, enc_dim_B: int = 256, enc_layers_B: int = 3, pooling: str = "concatenate"):
        super().__init__()
        if pooling not in POOLING:
            raise ValueError(f"pooling must be one of {POOLING}")
        self.pooling, self.ntilts, self.zdim = pooling, ntilts, zdim
        self.encoder_a = mlp(in_dim, enc_dim_A, enc_layers_A, out_dim_A)
        b_in = out_dim_A * ntilts if pooling == "concatenate" else out_dim_A
        self.set_pool = SetPooling(out_dim_A) if pooling == "set_encoder" else None
        self.encoder_b = mlp(b_in, enc_dim_B, enc_layers_B, 2 * zdim)

    def forward(self, ht: torch.Tensor):
        """ht (B, n, Pw) -> mu, logvar (B, zdim)."""
        h = torch.relu(self.encoder_a(ht))  # (B, n, out_dim_A)
        if self.pooling == "concatenate":
            h = h.reshape(len(h), -1)
        elif self.pooling == "max":
            h = h.max(dim=1).values
        elif self.pooling == "mean":
            h = h.mean(dim=1)
        elif self.pooling == "median":
            h = h.median(dim=1).values
        else:
            h = self.set_pool(h)
        out = self.encoder_b(h).float()
        return out[:, : self.zdim], out[:, self.zdim:]
