"""Neural networks: per-tilt encoder A, pooling, encoder B, FT positional decoder."""
from ._decoder import FTPositionalDecoder
from ._encoder import POOLING, SetPooling, TiltSeriesEncoder
from ._mlp import mlp
from ._vae import TomoDrgnModel, build_model

__all__ = ["FTPositionalDecoder", "TiltSeriesEncoder", "SetPooling", "POOLING", "TomoDrgnModel", "build_model", "mlp"]
