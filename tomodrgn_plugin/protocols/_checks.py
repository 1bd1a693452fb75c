"""Shared by the result checks (compare runs, validate selection, spatial statistics): which STAR rows a set of
classes or particles holds, and the core's FSC curves as a Scipion SetOfFSCs. No math: the core computes."""
import json
import os

from ..constants import ATTR_CLASS
from ..convert import index_resolver, star_of

CLASSES = "SetOfClassesSubTomograms"


def is_classes(obj) -> bool:
    return any(c.__name__ == CLASSES for c in type(obj).__mro__)


def images_of(obj):
    """The particle set behind a set of classes (its images), or the set itself."""
    return obj.getImages() if is_classes(obj) else obj


def class_ids(text) -> list:
    """'1 3', '1,3' -> [1, 3] (Scipion's 1-based class numbers); ValueError for anything else."""
    return [int(v) for v in str(text or "").replace(",", " ").split()]


def rows_and_classes(obj) -> dict:
    """{STAR particle row: class number as Scipion shows it (1-based), or None} of a set of classes (each item's
    class) or of a particle set (tomoDRGN's class attribute + 1, None without one). Rows index the STAR of
    ``images_of(obj)`` (star_of)."""
    index_of = index_resolver(images_of(obj))
    out = {}
    if is_classes(obj):
        for cls in obj.iterItems():
            k = cls.getObjId()
            for item in cls.iterItems():  # iterItems recycles one object: read as we go
                out[int(index_of(item))] = int(k)
        return out
    for item in obj.iterItems():
        label = getattr(item, ATTR_CLASS, None)
        out[int(index_of(item))] = None if label is None or label.get() is None else int(label.get()) + 1
    return out


def same_star(obj, model) -> bool:
    """Whether the set's STAR is the one the model was trained on (so STAR rows are the run's z rows)."""
    star = star_of(images_of(obj))[0]
    trained = model.getTrainingStar()
    return bool(star and trained and os.path.realpath(star) == os.path.realpath(trained))


def resolution(value) -> str:
    """A resolution from a summary.json: null there means the FSC never reached the threshold."""
    return "not reached" if value is None else f"{value:.3g} A"


def read_summary(folder) -> dict:
    with open(os.path.join(folder, "summary.json")) as f:
        return json.load(f)


def fsc_set(prot, freq_per_A, curves: dict, suffix: str = ""):
    """A SetOfFSCs (label -> FSC values at ``freq_per_A``), as other plugins register FSCs (x: 1/A)."""
    from pwem.objects import FSC

    fscs = prot._createSetOfFSCs(suffix)
    for label, values in curves.items():
        fsc = FSC(objLabel=label)
        fsc.setData([float(f) for f in freq_per_A], [float(v) for v in values])
        fscs.append(fsc)
    fscs.write()
    return fscs
