"""Names of a training run's files, pure standard library and Python 3.8-safe: the Scipion plugin imports this
module in Scipion's own Python, where neither torch nor the rest of the core may be installed."""
import re
from pathlib import Path
from typing import List

WEIGHTS = r"weights\.(\d+)\.pkl"  # a checkpoint file name; its group is the epoch
Z_TRAIN = r"z\.(\d+)\.train\.pkl"  # latent means of an epoch (z.<epoch>.train.npz beside it holds mu and logvar)


def epochs_with(workdir, pattern: str = Z_TRAIN) -> List[int]:
    """Sorted epochs for which a file matching ``pattern`` (one integer group) exists."""
    found = (re.fullmatch(pattern, p.name) for p in Path(workdir).glob("*"))
    return sorted(int(m.group(1)) for m in found if m)
