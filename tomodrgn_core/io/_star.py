"""Reading and writing STAR files with one-line errors instead of parser tracebacks."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import starfile

from ..errors import TomoDrgnInputError

# 9 significant digits round-trip any float32 exactly
FLOAT_FORMAT = "%.9g"


def read_star(path: str | os.PathLike) -> dict[str, pd.DataFrame | dict]:
    """All data blocks of a STAR file, keyed by block name (``data_NAME`` -> ``NAME``)."""
    path = Path(path)
    if not path.is_file():
        raise TomoDrgnInputError("STAR file not found", path=path,
                                 fix="check the path (relative paths are taken from the working directory)")
    if path.stat().st_size == 0:
        raise TomoDrgnInputError("STAR file is empty", path=path, fix="re-export the particles")
    try:
        blocks = starfile.read(path, always_dict=True)
    except Exception as err:  # the parser raises many different types on garbage
        raise TomoDrgnInputError(f"cannot parse STAR file ({type(err).__name__}: {err})", path=path,
                                 fix="give a RELION-style STAR file (data_ blocks, loop_ or key-value pairs)") from None
    if not blocks:
        raise TomoDrgnInputError("STAR file holds no data_ block", path=path, fix="re-export the particles")
    return dict(blocks)


def write_star(path: str | os.PathLike, blocks: dict[str, pd.DataFrame | dict], overwrite: bool = False) -> Path:
    """Write blocks in order; refuse to replace an existing file unless ``overwrite``."""
    path = Path(path)
    check_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    starfile.write(blocks, path, float_format=FLOAT_FORMAT)
    return path


def check_writable(path: str | os.PathLike, overwrite: bool) -> None:
    if Path(path).exists() and not overwrite:
        raise TomoDrgnInputError("output file already exists", path=path,
                                 fix="choose another output name or pass overwrite=True")


def missing_columns_error(path, block: str, missing: list[str], fix: str) -> TomoDrgnInputError:
    return TomoDrgnInputError(f"data_{block} lacks required column(s) {', '.join('_' + c for c in missing)}",
                              path=path, row="header", fix=fix)
