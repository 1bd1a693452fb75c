"""Particle I/O: every supported STAR layout -> the canonical particle table (``_schema``), lazy images,
subsets written back in the source's own format, our image-series STAR writer, MRC volumes."""
from . import _schema as schema
from ._load import SOURCE_CHOICES, load_particles
from ._mrc import read_volume, write_volume
from ._particleset import ParticleSet
from ._star import read_star, write_star
from ._write import write_image_series

__all__ = ["load_particles", "ParticleSet", "write_image_series", "write_volume", "read_volume",
           "read_star", "write_star", "schema", "SOURCE_CHOICES"]
