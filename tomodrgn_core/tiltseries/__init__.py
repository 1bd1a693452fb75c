"""Per-particle tilt images from whole tilt series (tomoDRGN "prepare image series"); geometry convention in
_geometry.py. Pure numpy; the Scipion protocol pulls arrays from Scipion objects and calls these."""
from ._extract import ExtractedTilts, background_normalise, extract_particle_tilts
from ._geometry import (TiltGeometry, depth, image_centre, particle_tilt_poses, project_positions,
                        projection_rotations, transforms_from_axis)
from ._prepare import PrepareReport, TomogramParticles, prepare_image_series
from ._simulate import TomogramSimulation, simulate_tomogram_tilt_series
from ._table import build_image_series_table

__all__ = ["ExtractedTilts", "background_normalise", "extract_particle_tilts", "TiltGeometry", "depth",
           "image_centre", "particle_tilt_poses", "project_positions", "projection_rotations",
           "transforms_from_axis", "PrepareReport", "TomogramParticles", "prepare_image_series",
           "TomogramSimulation", "simulate_tomogram_tilt_series", "build_image_series_table"]
