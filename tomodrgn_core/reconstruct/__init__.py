"""Classical reconstruction (weighted Fourier back-projection), the baseline for the decoder."""
from ..physics import shift_images
from ._backproject import backproject

__all__ = ["backproject", "shift_images"]
