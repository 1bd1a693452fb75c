"""Residual MLPs laid out as the reference tomoDRGN's ResidLinearMLP, so its flags build the same network.

``layers`` hidden layers of width ``hidden`` means: an input layer (in -> hidden), then ``layers`` residual
layers (hidden -> hidden, each x + Linear(x)), each followed by ReLU, then the output layer (hidden -> out, no
activation). The input and output layers are residual too when their widths allow it (in == hidden,
out == hidden), as the reference builds them (e.g. encoder A with --enc-dim-A 64 --out-dim-A 64).
Versions before ARCHITECTURE built one residual layer fewer and never a residual input/output layer.
"""
import torch
from torch import nn

# recorded in every checkpoint's model config; checkpoints without it have the older, shallower MLPs
ARCHITECTURE = "reference-resid-mlp"


class ResidLinear(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + x


def _layer(n_in: int, n_out: int) -> nn.Module:
    return ResidLinear(n_in) if n_in == n_out else nn.Linear(n_in, n_out)


def mlp(in_dim: int, hidden: int, layers: int, out_dim: int) -> nn.Sequential:
    """Input layer, ``layers`` residual hidden layers (the reference's nodes x layers), output layer."""
    mods: list[nn.Module] = [_layer(in_dim, hidden), nn.ReLU()]
    for _ in range(layers):
        mods += [ResidLinear(hidden), nn.ReLU()]
    mods.append(_layer(hidden, out_dim))
    return nn.Sequential(*mods)
