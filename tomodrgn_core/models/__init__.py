"""Neural networks: per-tilt encoder A, pooling, encoder B, FT positional decoder."""
from ._decoder import FTPositionalDecoder
from ._encoder import POOLING, TiltSeriesEncoder
from ._mlp import ARCHITECTURE, mlp
from ._set_transformer import SetTransformer
from ._vae import TomoDrgnModel, build_model

__all__ = ["FTPositionalDecoder", "TiltSeriesEncoder", "SetTransformer", "POOLING", "TomoDrgnModel", "build_model",
           "mlp", "ARCHITECTURE"]
