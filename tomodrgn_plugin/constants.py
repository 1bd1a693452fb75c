# plugin variables (scipion.conf or the environment), see tomodrgn_plugin/__init__.py
TOMODRGN_HOME = "TOMODRGN_HOME"                # the core's own Python lives here (scipion3 installb tomodrgn)
TOMODRGN_PYTHON = "TOMODRGN_PYTHON"            # the Python that runs the core, if not the one in TOMODRGN_HOME
TOMODRGN_BASE_PYTHON = "TOMODRGN_BASE_PYTHON"  # Python >= 3.10 that installb makes the core's venv with
TOMODRGN_TORCH = "TOMODRGN_TORCH"              # pip arguments for torch in that venv (CUDA or CPU build)
SOURCE_CHOICES = ["auto", "warp", "cryosrpnt", "relion5"]
POOLING_CHOICES = ["concatenate", "max", "mean", "median", "set_encoder"]
# per-item attributes added to particles
ATTR_INDEX = "_tomodrgnIndex"   # row of the particle in the source STAR (0-based, input order)
ATTR_Z = "_tomodrgnZ"           # latent mean, comma-separated floats
ATTR_CLASS = "_tomodrgnClass"   # k-means cluster (0-based)
TRAIN_DIR = "train"
