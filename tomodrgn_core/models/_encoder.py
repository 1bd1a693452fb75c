"""Tilt-series encoder: encoder A per tilt image -> pooling over the sampled tilts -> encoder B -> (mu, logvar).

As the reference tomoDRGN: the ReLU comes after the pooling (it matters for 'mean'; max, median and
concatenate commute with it), 'median' is the interpolated median (quantile 0.5), and 'set_encoder' replaces
pooling AND encoder B by a set transformer of width --enc-dim-B (models/_set_transformer.py).
"""
import torch
from torch import nn

from ._mlp import mlp
from ._set_transformer import SetTransformer

POOLING = ("concatenate", "max", "mean", "median", "set_encoder")
SET_HEADS = 4  # the reference's --num-heads default


def _pool(h: torch.Tensor, pooling: str) -> torch.Tensor:
    """(B, n, d) per-tilt encodings -> (B, n * d) or (B, d)."""
    if pooling == "concatenate":
        return h.reshape(len(h), -1)
    if pooling == "max":
        return h.max(dim=1).values
    if pooling == "mean":
        return h.mean(dim=1)
    return h.float().quantile(0.5, dim=1)  # median: quantile has no bf16 kernel, and interpolates as the reference


class TiltSeriesEncoder(nn.Module):
    def __init__(self, in_dim: int, ntilts: int, zdim: int, enc_dim_A: int = 256, enc_layers_A: int = 3,
                 out_dim_A: int = 128, enc_dim_B: int = 256, enc_layers_B: int = 3, pooling: str = "concatenate"):
        super().__init__()
        if pooling not in POOLING:
            raise ValueError(f"pooling must be one of {POOLING}")
        self.pooling, self.ntilts, self.zdim = pooling, ntilts, zdim
        self.encoder_a = mlp(in_dim, enc_dim_A, enc_layers_A, out_dim_A)
        if pooling == "set_encoder":
            self.encoder_b = SetTransformer(out_dim_A, 2 * zdim, enc_dim_B, SET_HEADS)
        else:
            b_in = out_dim_A * ntilts if pooling == "concatenate" else out_dim_A
            self.encoder_b = mlp(b_in, enc_dim_B, enc_layers_B, 2 * zdim)

    def forward(self, ht: torch.Tensor):
        """ht (B, n, Pw) -> mu, logvar (B, zdim)."""
        h = self.encoder_a(ht)  # (B, n, out_dim_A)
        if self.pooling == "set_encoder":
            out = self.encoder_b(h)
        else:
            out = self.encoder_b(torch.relu(_pool(h, self.pooling)))
        out = out.float()
        return out[:, : self.zdim], out[:, self.zdim:]
