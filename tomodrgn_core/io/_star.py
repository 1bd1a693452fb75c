"""Reading and writing STAR files with one-line errors instead of parser tracebacks."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import starfile

from ..errors import TomoDrgnInputError

# 9 significant digits round-trip any float32 exactly
FLOAT_FORMAT = "%.9g"

# every file a command has read (STAR files, stacks, volumes): no writer may replace one, even when told to
# overwrite (`-o particles.star --force` on the command's own input would destroy the user's data). Set up per
# command by the CLI (guard_inputs); library callers that rewrite their own files are not second-guessed.
_INPUTS: set[Path] | None = None


@contextlib.contextmanager
def guard_inputs():
    """While a command runs: no output may replace a file it has read."""
    global _INPUTS
    _INPUTS = set()
    try:
        yield
    finally:
        _INPUTS = None


def note_input(path: str | os.PathLike) -> None:
    if _INPUTS is not None:
        _INPUTS.add(Path(path).resolve())


def read_star(path: str | os.PathLike) -> dict[str, pd.DataFrame | dict]:
    """All data blocks of a STAR file, keyed by block name (``data_NAME`` -> ``NAME``)."""
    path = Path(path)
    if not path.is_file():
        raise TomoDrgnInputError("STAR file not found", path=path,
                                 fix="check the path (relative paths are taken from the working directory)")
    if path.stat().st_size == 0:
        raise TomoDrgnInputError("STAR file is empty", path=path, fix="re-export the particles")
    note_input(path)
    if _is_mrc(path):
        # the STAR parser finds no data_ block in a binary stack: say what the file is instead
        what = "an MRC image stack" if path.suffix.lower() == ".mrcs" else "an MRC file (image stack or volume)"
        raise TomoDrgnInputError(f"this is {what}, not a STAR file", path=path,
                                 fix="give the particles .star (or the *_optimisation_set.star)")
    try:
        blocks = starfile.read(path, always_dict=True)
    except Exception as err:  # the parser raises many different types on garbage
        raise TomoDrgnInputError(f"cannot parse STAR file ({type(err).__name__}: {err})", path=path,
                                 fix="give a RELION-style STAR file (data_ blocks, loop_ or key-value pairs)") from None
    if not blocks:
        raise TomoDrgnInputError("STAR file holds no data_ block", path=path, fix="re-export the particles")
    return dict(blocks)


def _is_mrc(path: Path) -> bool:
    """An MRC file by extension or by the 'MAP ' stamp at byte 208 of its header."""
    if path.suffix.lower() in (".mrc", ".mrcs", ".map"):
        return True
    with open(path, "rb") as f:
        head = f.read(212)
    return len(head) == 212 and head[208:212] == b"MAP "


def write_star(path: str | os.PathLike, blocks: dict[str, pd.DataFrame | dict], overwrite: bool = False) -> Path:
    """Write blocks in order; refuse to replace an existing file unless ``overwrite``."""
    path = Path(path)
    check_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    starfile.write(blocks, path, float_format=FLOAT_FORMAT)
    return path


def check_writable(path: str | os.PathLike, overwrite: bool) -> None:
    if _INPUTS and Path(path).resolve() in _INPUTS:
        raise TomoDrgnInputError("output would replace an input of this command", path=path,
                                 fix="write to another file name (-o)")
    if Path(path).exists() and not overwrite:
        raise TomoDrgnInputError("output file already exists", path=path,
                                 fix="choose another output name, or allow replacing it "
                                     "(--force; filter_star: --overwrite)")


def missing_columns_error(path, block: str, missing: list[str], fix: str) -> TomoDrgnInputError:
    return TomoDrgnInputError(f"data_{block} lacks required column(s) {', '.join('_' + c for c in missing)}",
                              path=path, fix=fix)


# every STAR label the readers take as a number
NUMERIC_LABELS = {
    "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOriginX", "rlnOriginY", "rlnOriginXAngst", "rlnOriginYAngst",
    "rlnOriginZAngst", "rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", "rlnVoltage", "rlnSphericalAberration",
    "rlnAmplitudeContrast", "rlnPhaseShift", "rlnCtfBfactor", "rlnCtfScalefactor", "rlnImagePixelSize", "rlnPixelSize",
    "rlnDetectorPixelSize", "rlnMagnification", "rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ",
    "rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst",
    "rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt", "rlnTomoSubtomogramPsi", "rlnMicrographPreExposure",
    "rlnTomoTiltSeriesPixelSize", "rlnCtfDataAreCtfPremultiplied", "rlnTomoNominalStageTiltAngle", "rlnTiltAngle",
}


def check_numeric(df: pd.DataFrame, path, block: str) -> None:
    """A number column holding text (starfile then keeps it as strings) fails here, naming row and value."""
    for c in NUMERIC_LABELS.intersection(df.columns):
        if pd.api.types.is_numeric_dtype(df[c]):
            continue
        bad = pd.to_numeric(df[c], errors="coerce").isna() & df[c].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise TomoDrgnInputError(f"_{c} is '{df[c].iloc[i]}', not a number (data_{block})", path=path, row=i + 1,
                                     fix="correct the value, or remove the row")
