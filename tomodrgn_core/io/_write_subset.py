"""Write a ParticleSet (usually a subset) back in the format it was read from."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from . import _schema as S
from ._paths import portable_path
from ._star import check_writable, write_star


def write_warp_subset(ps, path, overwrite: bool, relative: bool) -> list[Path]:
    """The source STAR's image rows of these particles (original order), stack names made valid.

    Relative paths are relative to the new STAR's folder, as tomoDRGN and Warp read them.
    """
    path = Path(path)
    check_writable(path, overwrite)
    blocks, name = ps.origin["blocks"], ps.origin["image_block"]
    t = ps.table.sort_values(S.SOURCE_IMAGE_ROW)
    df = blocks[name].iloc[t[S.SOURCE_IMAGE_ROW].to_numpy()].copy()
    stacks = {p: portable_path(p, path, relative) for p in t[S.IMAGE_PATH].unique()}
    df["rlnImageName"] = [f"{i + 1:06d}@{stacks[p]}" for i, p in zip(t[S.IMAGE_INDEX], t[S.IMAGE_PATH])]
    out = dict(blocks)
    out[name] = df.reset_index(drop=True)
    write_star(path, out, overwrite=True)
    return [path]


def relion5_paths(path) -> tuple[Path, Path, Path]:
    """(particles, tomograms, optimisation set) for a requested output name."""
    path = Path(path)
    if path.name.endswith("_optimisation_set.star"):
        stem = path.name[:-len("_optimisation_set.star")]
        return path.with_name(f"{stem}_particles.star"), path.with_name(f"{stem}_tomograms.star"), path
    stem = path.name[:-len(".star")] if path.name.endswith(".star") else path.name
    return path, path.with_name(f"{stem}_tomograms.star"), path.with_name(f"{stem}_optimisation_set.star")


def write_relion5_subset(ps, path, overwrite: bool, relative: bool, project_dir=None) -> list[Path]:
    """Filtered particles STAR + copied tomograms STAR + a new optimisation set pointing at both.

    Relative paths are relative to ``project_dir`` (RELION resolves them from the project folder it runs in),
    or to the new files' folder when it is None (how ParticleSet.write has always written them).
    """
    particles, tomograms, opt = relion5_paths(path)
    for p in (particles, tomograms, opt):
        check_writable(p, overwrite)
    blocks, name = ps.origin["particle_blocks"], ps.origin["image_block"]
    first = ps.row_offsets[:-1]
    src_rows = ps.table[S.SOURCE_ROW].to_numpy(np.int64)[first]
    stacks = ps.table[S.IMAGE_PATH].to_numpy(dtype=object)[first]
    order = np.argsort(src_rows, kind="stable")
    df = blocks[name].iloc[src_rows[order]].copy()
    df["rlnImageName"] = [portable_path(s, particles, relative, project_dir) for s in stacks[order]]
    out = dict(blocks)
    out[name] = df.reset_index(drop=True)
    write_star(particles, out, overwrite=True)
    if Path(ps.origin["tomograms_path"]).resolve() != tomograms.resolve():
        shutil.copyfile(ps.origin["tomograms_path"], tomograms)
    write_star(opt, {"": {"rlnTomoParticlesFile": portable_path(str(particles), opt, relative, project_dir),
                          "rlnTomoTomogramsFile": portable_path(str(tomograms), opt, relative, project_dir)}},
               overwrite=True)
    return [particles, tomograms, opt]
