"""Physics in one place: transforms, lattices, CTF, dose, rotations. One convention each."""
from ._ctf import compute_ctf, electron_wavelength, image_sign
from ._dose import (critical_exposure, dose_attenuation, dose_mask, equivalent_exposure, voltage_factor,
                    OPTIMAL_OVER_CRITICAL)
from ._geometry import centre_images, hand_matrix, shift_images, tilt_origins, tilt_poses
from ._fft import (fft2_center, ifft2_center, ht2_center, iht2_center,
                   fft3_center, ifft3_center, ht3_center, iht3_center)
from ._lattice import lattice_2d, lattice_3d, circular_mask, spatial_frequency
from ._rotations import euler_to_matrix, matrix_to_euler

__all__ = [
    "compute_ctf", "electron_wavelength", "image_sign", "critical_exposure", "dose_attenuation",
    "dose_mask", "equivalent_exposure", "voltage_factor",
    "OPTIMAL_OVER_CRITICAL", "fft2_center", "ifft2_center", "ht2_center", "iht2_center",
    "fft3_center", "ifft3_center", "ht3_center", "iht3_center", "lattice_2d", "lattice_3d",
    "circular_mask", "spatial_frequency", "euler_to_matrix", "matrix_to_euler", "centre_images", "hand_matrix",
    "shift_images", "tilt_origins", "tilt_poses",
]
