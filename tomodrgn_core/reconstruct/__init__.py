"""Classical reconstruction (weighted Fourier back-projection), the baseline for the decoder."""
from ._backproject import backproject, shift_images

__all__ = ["backproject", "shift_images"]
