"""MRC volumes: one writer and one reader with a correct header, used by every command."""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

import mrcfile
import numpy as np

from ..errors import TomoDrgnInputError
from ._star import check_writable, note_input


@contextmanager
def quiet_mrc():
    """Silence mrcfile's permissive-mode RuntimeWarnings ("Map ID string not found", "Unrecognised machine
    stamp"): many tools write stacks without the MAP stamp, and every read of them warned. What matters (a header
    that makes sense, enough bytes) is checked by the readers themselves, with one-line errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def write_volume(path, vol, pixel_size: float, overwrite: bool = True) -> Path:
    """float32 vol[z, y, x] with voxel size ``pixel_size`` (A) and origin 0."""
    path = Path(path)
    check_writable(path, overwrite)
    data = np.asarray(vol.detach().cpu() if hasattr(vol, "detach") else vol, dtype=np.float32)
    if data.ndim != 3:
        raise TomoDrgnInputError(f"a volume must be 3D, got shape {data.shape}", path=path,
                                 fix="pass a (D, D, D) array")
    path.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(data))
        mrc.voxel_size = float(pixel_size)
        mrc.header.origin = (0.0, 0.0, 0.0)
        mrc.header.nxstart = mrc.header.nystart = mrc.header.nzstart = 0
        mrc.update_header_stats()
    return path


def read_volume(path) -> tuple[np.ndarray, float]:
    """(float32 vol[z, y, x], pixel size in A)."""
    path = Path(path)
    if not path.is_file():
        raise TomoDrgnInputError("volume not found", path=path, fix="check the path")
    note_input(path)
    try:
        with quiet_mrc(), mrcfile.open(path, mode="r", permissive=True) as mrc:
            if mrc.data is None:
                raise ValueError("no data")
            return np.array(mrc.data, dtype=np.float32), float(mrc.voxel_size.x)
    except TomoDrgnInputError:
        raise
    except Exception as err:
        raise TomoDrgnInputError(f"unreadable MRC volume ({err})", path=path, fix="give a valid .mrc file") from None
