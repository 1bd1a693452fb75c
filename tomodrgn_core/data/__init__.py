"""Training data: cached preprocessing and device-resident batches with random tilt sampling."""
from ._dataset import Batch, TiltSeriesData, choose_lazy
from ._preprocess import cache_key, normalization_std, preprocess, window_mask

__all__ = ["Batch", "TiltSeriesData", "choose_lazy", "preprocess", "cache_key", "normalization_std", "window_mask"]
