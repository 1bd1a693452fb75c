TOMODRGN_PYTHON = "TOMODRGN_PYTHON"
SOURCE_CHOICES = ["auto", "warp", "cryosrpnt", "relion5"]
POOLING_CHOICES = ["concatenate", "max", "mean", "median", "set_encoder"]
# per-item attributes added to particles
ATTR_INDEX = "_tomodrgnIndex"   # row of the particle in the source STAR (0-based, input order)
ATTR_Z = "_tomodrgnZ"           # latent mean, comma-separated floats
ATTR_CLASS = "_tomodrgnClass"   # k-means cluster (0-based)
TRAIN_DIR = "train"
