"""Residual MLPs (as cryoDRGN's ResidLinearMLP): Linear -> ReLU -> residual blocks -> Linear."""
import torch
from torch import nn


class ResidLinear(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + x


def mlp(in_dim: int, hidden: int, layers: int, out_dim: int) -> nn.Sequential:
    """``layers`` hidden layers of width ``hidden`` (the reference's nodes x layers)."""
    mods: list[nn.Module] = [nn.Linear(in_dim, hidden), nn.ReLU()]
    for _ in range(max(0, layers - 1)):
        mods += [ResidLinear(hidden), nn.ReLU()]
    mods.append(nn.Linear(hidden, out_dim))
    return nn.Sequential(*mods)
