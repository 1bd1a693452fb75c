"""Resolve the relative stack paths of a STAR file the way the writing software meant them."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import TomoDrgnInputError


def search_dirs(star_path: str | os.PathLike, datadir: str | os.PathLike | None = None) -> list[Path]:
    """Where relative stack names are looked up, in order: datadir, the STAR's folder, its parent, its
    grandparent (RELION names are relative to the project folder, STARs sit in <project>/Job/jobNNN/), cwd."""
    star_dir = Path(star_path).resolve().parent
    dirs = ([Path(datadir).resolve()] if datadir else []) + [star_dir, star_dir.parent, star_dir.parent.parent,
                                                             Path.cwd()]
    return list(dict.fromkeys(dirs))  # keep order, drop duplicates


def resolve_stacks(names: np.ndarray, star_path, datadir=None, rows: np.ndarray | None = None) -> np.ndarray:
    """Absolute path for each stack name (array of str). Raises naming every place it looked.

    The folder that resolved the previous name is tried first, so large sets cost one stat per name.
    ``rows`` (1-based STAR rows, same length as ``names``) is only used for the error message.
    """
    names = np.asarray(names, dtype=object)
    uniq, inverse = np.unique(names, return_inverse=True)
    dirs = search_dirs(star_path, datadir)
    out = np.empty(len(uniq), dtype=object)
    for i, name in enumerate(uniq):
        out[i], hit = _resolve_one(str(name), dirs, datadir)
        if out[i] is None:
            first = int(np.flatnonzero(inverse == i)[0])
            row = int(rows[first]) if rows is not None else first + 1
            tried = [str(Path(name))] if Path(name).is_absolute() else []
            tried += [str(d / name) for d in dirs]
            if datadir:
                tried.append(str(Path(datadir) / Path(name).name))
            raise TomoDrgnInputError(f"image stack '{name}' not found; looked in: {'; '.join(tried)}",
                                     path=star_path, row=row,
                                     fix="pass datadir/--datadir pointing at the folder that holds the stacks")
        if hit is not None and hit != dirs[0]:  # try the winning folder first next time
            dirs.remove(hit)
            dirs.insert(0, hit)
    return out[inverse]


def _resolve_one(name: str, dirs: list[Path], datadir) -> tuple[str | None, Path | None]:
    """(absolute path or None, the search folder that matched or None)."""
    p = Path(name)
    if p.is_absolute() and p.is_file():
        return str(p), None
    if not p.is_absolute():
        for d in dirs:
            if (d / p).is_file():
                return str((d / p).resolve()), d
    if datadir and (Path(datadir) / p.name).is_file():  # stacks moved: same file name in datadir
        return str((Path(datadir) / p.name).resolve()), None
    return None, None


def portable_path(stack: str, out_file: str | os.PathLike, relative: bool, base=None) -> str:
    """How a written STAR refers to a stack: absolute, or relative to ``base`` (default: the new file's folder)."""
    if not relative:
        return str(Path(stack).resolve())
    base = Path(out_file).resolve().parent if base is None else Path(base).resolve()
    return os.path.relpath(Path(stack).resolve(), base)
