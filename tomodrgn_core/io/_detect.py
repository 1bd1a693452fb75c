"""Which software wrote a STAR file, decided by required columns / blocks (never by exact column lists)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import TomoDrgnInputError
from ._paths import search_dirs
from ._star import read_star
from ._warp import image_block

WARP_ONLY = ("rlnCtfImage", "rlnMagnification", "rlnCtfMaxResolution", "rlnMicrographName")  # cryoSRPNT lacks them


def is_optimisation_set(blocks: dict) -> bool:
    return any(isinstance(b, dict) and "rlnTomoParticlesFile" in b for b in blocks.values())


def is_relion5_particles(blocks: dict) -> bool:
    general = blocks.get("general")
    if isinstance(general, dict) and "rlnTomoSubTomosAre2DStacks" in general:
        return True
    name = image_block(blocks)
    return name is not None and "rlnTomoVisibleFrames" in blocks[name].columns


def detect_source(blocks: dict, star_path) -> str:
    """'relion5', 'warp' or 'cryosrpnt'; raises when the layout is none of them."""
    if is_optimisation_set(blocks) or is_relion5_particles(blocks):
        return "relion5"
    name = image_block(blocks)
    if name is not None and "rlnGroupName" in blocks[name].columns:
        cols = set(blocks[name].columns)
        optics = blocks.get("optics")
        if isinstance(optics, pd.DataFrame):
            cols |= set(optics.columns)
        return "warp" if cols & set(WARP_ONLY) else "cryosrpnt"
    raise TomoDrgnInputError(
        "cannot tell the particle format: no _rlnTomoParticlesFile (RELION 5 optimisation set), no "
        "_rlnTomoVisibleFrames (RELION 5 particles) and no _rlnGroupName + _rlnImageName (Warp/M image series)",
        path=star_path,
        fix="give a Warp/M image-series STAR or a RELION 5 optimisation set, or name the format with "
            "--source-software warp, cryosrpnt or relion5")


def _find(name: str, base: Path) -> Path | None:
    p = Path(name)
    if p.is_absolute():
        return p if p.is_file() else None
    for d in search_dirs(base):
        if (d / p).is_file():
            return (d / p).resolve()
    return None


def relion5_files(star_path, blocks: dict, tomograms_star=None) -> tuple[Path, dict, Path, Path | None]:
    """(particles STAR, its blocks, tomograms STAR, optimisation set or None) for a RELION 5 input."""
    star_path = Path(star_path)
    if is_optimisation_set(blocks):
        opt = next(b for b in blocks.values() if isinstance(b, dict) and "rlnTomoParticlesFile" in b)
        for key in ("rlnTomoParticlesFile", "rlnTomoTomogramsFile"):
            if key not in opt and not (key == "rlnTomoTomogramsFile" and tomograms_star):
                raise TomoDrgnInputError(f"optimisation set lacks the _{key} line", path=star_path,
                                         fix=f"add '_{key} <path>' to the optimisation set")
        particles = _find(str(opt["rlnTomoParticlesFile"]), star_path)
        tomos = Path(tomograms_star) if tomograms_star else _find(str(opt["rlnTomoTomogramsFile"]), star_path)
        for key, found in (("rlnTomoParticlesFile", particles), ("rlnTomoTomogramsFile", tomos)):
            if found is None or not found.is_file():
                dirs = "; ".join(str(d) for d in search_dirs(star_path))
                raise TomoDrgnInputError(f"_{key} '{opt.get(key)}' not found (looked in {dirs})", path=star_path,
                                         fix=f"correct the _{key} path in the optimisation set")
        return particles, read_star(particles), tomos, star_path.resolve()
    # a particles STAR: find its tomograms STAR
    if tomograms_star:
        return star_path.resolve(), blocks, Path(tomograms_star).resolve(), None
    folder = star_path.resolve().parent
    for opt_path in sorted(folder.glob("*_optimisation_set.star")):
        try:
            ob = read_star(opt_path)
        except TomoDrgnInputError:
            continue
        o = next((b for b in ob.values() if isinstance(b, dict) and "rlnTomoParticlesFile" in b), None)
        if o is None or "rlnTomoTomogramsFile" not in o:
            continue
        p = _find(str(o["rlnTomoParticlesFile"]), opt_path)
        t = _find(str(o["rlnTomoTomogramsFile"]), opt_path)
        if p is not None and p.resolve() == star_path.resolve() and t is not None:
            return star_path.resolve(), blocks, t, opt_path.resolve()
    stem = star_path.name[:-len(".star")] if star_path.name.endswith(".star") else star_path.name
    for cand in (folder / f"{stem}_tomograms.star",
                 folder / f"{stem.removesuffix('_particles').removesuffix('_data')}_tomograms.star"):
        if cand.is_file():
            return star_path.resolve(), blocks, cand, None
    cands = sorted(folder.glob("*tomograms.star"))
    if len(cands) == 1:
        return star_path.resolve(), blocks, cands[0].resolve(), None
    if not cands:
        raise TomoDrgnInputError("RELION 5 particles STAR without a tomograms STAR: no optimisation set or "
                                 f"*_tomograms.star found in {folder}", path=star_path,
                                 fix="give the optimisation set STAR, or put the tomograms STAR beside this file "
                                     "as <stem>_tomograms.star")
    raise TomoDrgnInputError(f"ambiguous tomograms STAR: {', '.join(c.name for c in cands)} in {folder}",
                             path=star_path,
                             fix="give the optimisation set STAR, or put the tomograms STAR beside this file "
                                     "as <stem>_tomograms.star")
