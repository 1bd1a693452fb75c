"""Scipion objects <-> the core's plain files. Runs in Scipion's Python (3.8 up, no torch): it only moves numbers.
Every pose is computed by the core (tomodrgn_core/physics/_geometry.py): particle tables (``tomodrgn
particle_table``) carry each particle's Scipion matrix, and "prepare image series" hands Scipion's matrices, as
stored, to the core (``prepare_spec``)."""
import csv
import json
import math
import os

import numpy as np
import pyworkflow.object as pwobj
from pwem.objects import Transform
from tomo import constants as tconst
from tomo.objects import Coordinate3D, SubTomogram, TomoAcquisition

from .constants import ATTR_CLASS, ATTR_INDEX, ATTR_Z

RELION5_SET = "RelionSetOfPseudoSubtomograms"  # scipion-em-reliontomo, referenced by name (optional plugin)
MATRIX_COLUMNS = [f"m{i}{j}" for i in range(3) for j in range(4)]  # as tomodrgn_core/io/_particle_table.py
R5_ANGLES = ["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]  # reliontomo's RELION 5 Coordinate3D attributes


def is_relion5_set(particles) -> bool:
    return any(c.__name__ == RELION5_SET for c in type(particles).__mro__)


def relion_class(name: str):
    """A scipion-em-reliontomo class by name, or None when that plugin is not installed."""
    import pwem
    return pwem.Domain.getObjects().get(name)


def star_of(particles):
    """(star path, source software) of a particle set we can train on, or (None, None)."""
    if hasattr(particles, "getStarFile") and particles.getStarFile():
        return particles.getStarFile(), particles.getSourceSoftware()
    if is_relion5_set(particles) and particles._filesMaster.get():
        return particles._filesMaster.get(), "relion5"
    return None, None


def set_star(out_set, star: str, source: str) -> None:
    """Point a particle set at its STAR (ours) or optimisation set (reliontomo's class)."""
    if hasattr(out_set, "setStarFile"):
        out_set.setStarFile(star)
        out_set.setSourceSoftware(source)
    elif is_relion5_set(out_set):
        out_set.filesMaster = star  # reliontomo reads the tomograms/particles STARs and optics from it


# --- the core's particle tables ----------------------------------------------------------------------------
def read_table(csv_path) -> tuple:
    """(rows as dicts of strings, the JSON summary beside it) of a ``tomodrgn particle_table`` output."""
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    with open(os.path.splitext(csv_path)[0] + ".json") as f:
        return rows, json.load(f)


def read_csv_columns(path) -> dict:
    """{column: numpy array} of a CSV written by the core (numbers as float where they all parse)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for name in (rows[0].keys() if rows else []):
        values = [r[name] for r in rows]
        try:
            out[name] = np.array([float(v) if v != "" else math.nan for v in values])
        except ValueError:
            out[name] = np.array(values, dtype=object)
    return out


def _float(text, default=0.0) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) else default


def matrix_of(row) -> np.ndarray:
    """The 4x4 Scipion matrix of a particle-table row."""
    m = np.eye(4)
    m[:3, :] = np.array([float(row[c]) for c in MATRIX_COLUMNS]).reshape(3, 4)
    return m


def acquisition_of(row) -> TomoAcquisition:
    return TomoAcquisition(voltage=_float(row["voltage"]), sphericalAberration=_float(row["cs"]),
                           amplitudeContrast=_float(row["amp_contrast"]))


def coordinate_of(row) -> Coordinate3D:
    """The particle's tomogram coordinate (px at the set's sampling, centred: Scipion's SCIPION origin; 0 where
    the STAR has none)."""
    coord = Coordinate3D()
    coord.setPosition(*(_float(row[f"coord_{a}_px"]) for a in "xyz"), tconst.SCIPION)
    coord.setTomoId(row["tomo_id"])
    return coord


def fill_particles(rows, info, out_set, coordinates=None) -> None:
    """One SubTomogram per particle-table row: its reference tilt image (nearest 0 degrees), sampling,
    acquisition, coordinate (``coordinates``: {particle id: Coordinate3D} to use instead) and pose (the core's
    Scipion matrix), plus ``_tomodrgnIndex``."""
    apix = info["pixel_size"]
    out_set.setSamplingRate(apix)
    out_set.setAcquisition(acquisition_of(rows[0]))
    for row in rows:
        sub = SubTomogram()
        sub.setLocation(int(row["image_index"]) + 1, row["image_path"])
        sub.setSamplingRate(apix)
        sub.setAcquisition(acquisition_of(row))
        sub.setVolName(row["tomo_id"])
        coord = (coordinates or {}).get(row["particle_id"])
        sub.setCoordinate3D(coord if coord is not None else coordinate_of(row))
        sub.setTransform(Transform(matrix_of(row)))
        setattr(sub, ATTR_INDEX, pwobj.Integer(int(row["particle_index"])))
        out_set.append(sub)


def particle_names(rows) -> dict:
    """{particle id (rlnTomoParticleName): particle row} of a particle table."""
    return {row["particle_id"]: int(row["particle_index"]) for row in rows}


def needs_names(in_set) -> bool:
    """Items made by other plugins carry no ``_tomodrgnIndex``: they are matched by particle name."""
    return getattr(in_set.getFirstItem(), ATTR_INDEX, None) is None


def index_resolver(in_set, names=None):
    """item -> its particle row in the set's STAR. Our items carry ``_tomodrgnIndex``; items made by
    scipion-em-reliontomo are matched by rlnTomoParticleName in ``names`` (``particle_names`` of the set's STAR)."""
    if not needs_names(in_set):
        return lambda item: getattr(item, ATTR_INDEX).get()
    star = star_of(in_set)[0]

    def resolve(item):
        name = str(item.getRelionParticleName()) if hasattr(item, "getRelionParticleName") else None
        if names is None or name not in names:
            from tomodrgn_core.errors import TomoDrgnInputError
            raise TomoDrgnInputError(f"particle {name!r} (item {item.getObjId()}) is not in the optimisation set",
                                     path=star, fix="use the set that was written with this optimisation set")
        return names[name]
    return resolve


def star_rows(in_set, names=None) -> list:
    """Sorted STAR particle rows of a set's items: fewer than the STAR holds when the set is a subset (made
    by Scipion's own subset tools, which keep the STAR of the full set)."""
    index_of = index_resolver(in_set, names)
    return sorted({int(index_of(item)) for item in in_set.iterItems()})


def copy_with_attributes(in_set, out_set, z=None, labels=None, keep=None, names=None) -> None:
    """Copy items, attaching the particle index, latent z and class. ``out_set`` should be of the input's
    class (``in_set.create(path)``) so downstream protocols of other plugins accept it.

    ``keep``: the STAR rows that the output's STAR holds, as filter_star writes them (in input order). Only
    those items are copied, and each is renumbered to its row in that STAR, so that ``_tomodrgnIndex`` always
    indexes the set's own STAR. ``z`` / ``labels`` are indexed in that output numbering."""
    out_set.copyInfo(in_set)
    index_of = index_resolver(in_set, names)
    row_in_output = None if keep is None else {int(old): new for new, old in enumerate(sorted(keep))}
    for item in in_set.iterItems():
        idx = int(index_of(item))
        if row_in_output is not None:
            if idx not in row_in_output:
                continue
            idx = row_in_output[idx]
        new = item.clone()
        setattr(new, ATTR_INDEX, pwobj.Integer(idx))
        if z is not None:
            setattr(new, ATTR_Z, pwobj.String(",".join(f"{v:.6g}" for v in z[idx])))
        if labels is not None:
            setattr(new, ATTR_CLASS, pwobj.Integer(int(labels[idx])))
        out_set.append(new)


def parse_z(text: str) -> np.ndarray:
    """Latent values stored on an item (a string after a round trip through the project database)."""
    return np.array([float(v) for v in str(text).split(",") if v.strip()])


# --- Scipion tomo sets -> the core's prepare_image_series spec (tomodrgn_core/tiltseries/_spec.py) ----------
def ctf_table(ctf_set) -> dict:
    """{tsId: {acquisition order (or index): (defocus U, V, angle)}} of a SetOfCTFTomoSeries."""
    out = {}
    for series in ctf_set.iterItems():
        d = out.setdefault(series.getTsId(), {})
        for c in series.iterItems():
            key = c.getAcquisitionOrder() if c.getAcquisitionOrder() is not None else c.getIndex()
            d[key] = (c.getDefocusU(), c.getDefocusV(), c.getDefocusAngle())
    return out


def _alignment(ti) -> list:
    """IMOD-style raw -> aligned 2D matrix of a TiltImage, as stored (identity when it has no alignment)."""
    m = np.eye(3)
    tr = ti.getTransform() if ti.hasTransform() else None
    if tr is not None:
        src = np.asarray(tr.getMatrix(), float)
        m[:2, :2], m[:2, 2] = src[:2, :2], src[:2, -1]
    return m.tolist()


def tilt_series_spec(ts, ctfs=None, default_defocus: float = 25000.0) -> dict:
    """The enabled tilt images of a Scipion TiltSeries, frames in stack order: stack, tilt angles, alignment,
    dose (the tilt image's pre-exposure, doseInitial, as reliontomo writes rlnMicrographPreExposure) and defocus
    (``ctfs``: one tilt series of ctf_table, by acquisition order or index; else the default)."""
    tis = sorted((ti.clone() for ti in ts.iterItems() if ti.isEnabled()), key=lambda t: t.getIndex())
    ctfs = ctfs or {}

    def defocus(ti):
        key = ti.getAcquisitionOrder() if ti.getAcquisitionOrder() is not None else ti.getIndex()
        return list(ctfs.get(key, (default_defocus, default_defocus, 0.0)))

    return {"tomo_id": ts.getTsId(), "stack": os.path.abspath(tis[0].getFileName().split(":")[0]),
            "frames": [ti.getIndex() - 1 for ti in tis], "tilt_angles": [ti.getTiltAngle() for ti in tis],
            "transforms": [_alignment(ti) for ti in tis],
            "dose": [ti.getAcquisition().getDoseInitial() or 0.0 for ti in tis],
            "defocus": [defocus(ti) for ti in tis], "pixel_size": float(ts.getSamplingRate())}


def particle_spec(particles) -> dict:
    """{tomo id: particles entry of the prepare spec} of a SetOfCoordinates3D or a SetOfSubTomograms: object ids,
    coordinates (px, centred) and Scipion matrices as stored (coordinates: their own; subtomograms: their
    Transform, with rlnAngle* too for reliontomo's RELION 5 items)."""
    from tomo.objects import SetOfCoordinates3D
    is_coords = isinstance(particles, SetOfCoordinates3D)
    coord_set = particles if is_coords else (particles.getCoordinates3D().get()
                                             if getattr(particles, "getCoordinates3D", None)
                                             and particles.getCoordinates3D() is not None else None)
    coord_apix = coord_set.getSamplingRate() if coord_set is not None else particles.getSamplingRate()
    relion5 = is_relion5_set(particles) and bool(particles.areRe5Particles())
    out = {}
    for item in particles.iterItems():
        coord = item if is_coords else item.getCoordinate3D()
        matrix = coord.getMatrix() if is_coords else item.getTransform().getMatrix()
        # RELION 5 keeps rlnAngle* apart from the matrix (rlnTomoSubtomogram*): reliontomo's items, and the
        # coordinates its readers make (R5 attributes)
        angles = [item.getRot(), item.getTilt(), item.getPsi()] if relion5 else \
            ([getattr(coord, a).get() for a in R5_ANGLES] if is_coords and hasattr(coord, R5_ANGLES[0]) else None)
        entry = out.setdefault(str(coord.getTomoId()), {
            "ids": [], "coords": [], "matrices": [], "coords_pixel_size": coord_apix,
            "shift_pixel_size": coord_apix if is_coords else particles.getSamplingRate(), "relion5_angles": []})
        entry["ids"].append(str(item.getObjId()))
        entry["coords"].append([float(v) for v in coord.getPosition(tconst.SCIPION)])
        entry["matrices"].append(np.asarray(matrix, float).tolist())
        entry["relion5_angles"].append(angles)
    for entry in out.values():  # all or none: a set is one kind
        if any(a is None for a in entry["relion5_angles"]):
            entry["relion5_angles"] = None
    return out
