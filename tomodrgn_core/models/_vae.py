"""The tomoDRGN model: encoder (None for homogeneous training) + FT positional decoder."""
import torch
from torch import nn

from ._decoder import FEATURES, FTPositionalDecoder
from ._encoder import TiltSeriesEncoder
from ._mlp import ARCHITECTURE


class TomoDrgnModel(nn.Module):
    def __init__(self, box: int, window_points: int, ntilts: int, zdim: int = 0, dec_dim: int = 256,
                 dec_layers: int = 3, feat_sigma: float = 0.5, enc_dim_A: int = 256, enc_layers_A: int = 3,
                 out_dim_A: int = 128, enc_dim_B: int = 256, enc_layers_B: int = 3,
                 pooling: str = "concatenate", seed: int = 0, decoder_features: str = FEATURES,
                 architecture: str = ARCHITECTURE):
        super().__init__()
        if decoder_features != FEATURES:
            raise ValueError(f"decoder features {decoder_features!r}: this version builds {FEATURES!r}")
        if architecture != ARCHITECTURE:
            raise ValueError(f"architecture {architecture!r}: this version builds {ARCHITECTURE!r}")
        self.zdim = zdim
        self.encoder = (TiltSeriesEncoder(window_points, ntilts, zdim, enc_dim_A, enc_layers_A, out_dim_A,
                                          enc_dim_B, enc_layers_B, pooling) if zdim else None)
        self.decoder = FTPositionalDecoder(box, zdim, dec_dim, dec_layers, feat_sigma, seed)

    def encode(self, ht: torch.Tensor):
        return self.encoder(ht)

    def decode(self, coords: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(coords, z)


def build_model(cfg: dict) -> TomoDrgnModel:
    """From the plain config dict written at training time (config.yaml 'model' section)."""
    return TomoDrgnModel(**cfg)
