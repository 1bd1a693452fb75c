"""tomoDRGN spatial statistics: where do the classes sit in their tomograms?"""
import numpy as np
from pwem.protocols import EMProtocol
from pyworkflow.protocol import params

from .. import Plugin
from ..convert import star_of
from ._checks import images_of, read_summary, rows_and_classes
from ._run import run_core


class ProtTomoDrgnSpatialStats(EMProtocol):
    """Class composition per tomogram, nearest-neighbour distances within and between classes (in A, from the
    particles' tomogram coordinates), and whether a class is spatially clustered compared with its labels shuffled
    among the same positions. Classes are numbered as Scipion shows them."""
    _label = "spatial statistics"

    def _defineParams(self, form):
        form.addSection(label="Input")
        form.addParam("inputSelection", params.PointerParam, important=True, label="Classes or labelled particles",
                      pointerClass="SetOfClassesSubTomograms,TomoDrgnParticles,RelionSetOfPseudoSubtomograms",
                      help="the classes of 'tomoDRGN analyze' (or any set of classes of particles with a tomoDRGN "
                           "STAR), or particles labelled by tomoDRGN analyze (a subset too)")
        form.addParam("nShuffles", params.IntParam, default=500, expertLevel=params.LEVEL_ADVANCED,
                      label="Label shuffles", help="of the clustering test (p-values down to 1/(shuffles+1))")

    def _insertAllSteps(self):
        self._insertFunctionStep(self.spatialStep, self.nShuffles.get())

    def _outDir(self):
        return self._getExtraPath("spatial")

    def spatialStep(self, *_):
        rows = rows_and_classes(self.inputSelection.get())
        kept = sorted(r for r, k in rows.items() if k is not None)
        ind, labels = self._getExtraPath("rows.txt"), self._getExtraPath("labels.txt")
        np.savetxt(ind, kept, fmt="%d")
        np.savetxt(labels, [rows[r] for r in kept], fmt="%d")  # one per --ind row, in its order
        star, source = star_of(images_of(self.inputSelection.get()))
        run_core(self, f'{Plugin.getProgram("spatial_stats")} "{star}" --source-software {source} --labels "{labels}" '
                       f'--ind "{ind}" -o "{self._outDir()}" --n-shuffles {self.nShuffles.get()} --force')

    def _validate(self):
        sel = self.inputSelection.get()
        if sel is None:
            return []
        if star_of(images_of(sel))[0] is None:
            return ["These particles carry no tomoDRGN/RELION 5 STAR."]
        if self.nShuffles.get() is None or self.nShuffles.get() < 1:
            return ["Label shuffles must be at least 1."]
        if not any(k is not None for k in rows_and_classes(sel).values()):
            return ["These particles have no classes: use the classes (or the particles) of a 'tomoDRGN analyze' run."]
        return []

    def _summary(self):
        try:
            s = read_summary(self._outDir())
        except OSError:
            return ["Spatial statistics not computed yet."]
        lines = [f"{s['n_particles']} particles in {s['n_tomograms']} tomograms"]
        for c in s["clustering"]:
            med, shuf = c.get("median_nn_same_class_A"), c.get("shuffled_median_A")
            detail = f": median same-class neighbour {med:.4g} A ({shuf:.4g} A shuffled)" if shuf is not None else ""
            lines.append(f"class {c['class']} ({c['n']} particles): {c['verdict']}{detail}")
        return lines

    def _methods(self):
        try:
            s = read_summary(self._outDir())
        except OSError:
            return []
        return [f"Nearest-neighbour distances of {s['n_particles']} particles within their tomograms were compared "
                f"with {s['n_shuffles']} within-tomogram shuffles of the class labels [Powell2024]."]

    def _citations(self):
        return ["Powell2024"]
