"""Dose-symmetric tilt schemes (Hagen et al. 2017): 0, +s, -s, -2s, +2s, +3s, -3s, ..."""
import numpy as np


def dose_symmetric_scheme(max_tilt: float = 60.0, step: float = 3.0, dose_per_tilt: float = 3.0):
    """Returns (tilt angles in acquisition order, cumulative dose before each exposure) in deg, e/A^2."""
    n = int(round(max_tilt / step))
    order = [0.0]
    sign = 1
    for k in range(1, n + 1):  # groups of two on alternating sides
        order += [sign * k * step, -sign * k * step]
        sign = -sign
    angles = np.array(order)
    return angles, np.arange(len(angles)) * dose_per_tilt
