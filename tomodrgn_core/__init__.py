"""tomoDRGN core: heterogeneous reconstruction of cryo-ET particle tilt series, pure PyTorch.

Never imports pyworkflow/pwem/tomo: the Scipion plugin (tomodrgn_plugin) sits on top of this.
"""
from .errors import TomoDrgnInputError

__version__ = "0.1.0"
__all__ = ["TomoDrgnInputError", "__version__"]
