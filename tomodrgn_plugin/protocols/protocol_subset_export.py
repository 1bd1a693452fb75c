"""tomoDRGN subset export: chosen classes or indices -> the same kind of particle set, plus the filtered
STAR (Warp image series or RELION 5 optimisation set) for RELION/Dynamo and external tools."""
import os

import numpy as np
from pwem.protocols import EMProtocol
from pyworkflow.protocol import params
from tomo.objects import SetOfSubTomograms

from .. import Plugin
from ..constants import ATTR_CLASS, ATTR_INDEX
from ..convert import copy_with_attributes, set_star, star_of, star_rows
from ._run import run_core, set_names

SELECT = ["classes", "particle indices"]


class ProtTomoDrgnSubsetExport(EMProtocol):
    """Keep the particles of the chosen tomoDRGN classes (or an index list). The filtered STAR (Warp image
    series, or RELION 5 optimisation set) is the export: RELION 5 / WarpTools / Dynamo re-extract from it.
    The output set has the input's class (reliontomo's pseudo-subtomograms stay so, for RELION 5 protocols);
    its items are 2D particle tilt-image series with their tomogram coordinates, not 3D subtomograms."""
    _label = "subset export"
    _possibleOutputs = {"outputParticles": SetOfSubTomograms}  # the input's class (ours, or reliontomo's)

    def _defineParams(self, form):
        form.addSection(label="Input")
        form.addParam("inputParticles", params.PointerParam, important=True, label="Particles",
                      pointerClass="TomoDrgnParticles,RelionSetOfPseudoSubtomograms",
                      help="particles labelled by 'tomoDRGN analyze' (its classes' images) or any imported set")
        form.addParam("selectBy", params.EnumParam, choices=SELECT, default=0, label="Select by")
        form.addParam("classIds", params.StringParam, default="1", condition="selectBy == 0",
                      label="Classes to keep", help="class numbers as shown in Scipion (1-based), e.g. '1 3'")
        form.addParam("indices", params.StringParam, default="", condition="selectBy == 1",
                      label="Particle indices", help="0-based indices in the input STAR, or a .txt/.npy/.pkl file")

    def _insertAllSteps(self):
        self._insertFunctionStep(self.exportStep, self.selectBy.get(), self.classIds.get(), self.indices.get())

    def _wantedClasses(self) -> set:
        """0-based class numbers from the 1-based text ('1 3', '1,3')."""
        return {int(c) - 1 for c in self.classIds.get().replace(",", " ").split()}

    def _kept(self, items, names) -> set:
        """STAR rows of the chosen particles that are in this set (an index outside it is not exported)."""
        if self.selectBy.get() == 0:
            wanted = self._wantedClasses()
            return {getattr(it, ATTR_INDEX).get() for it in items if getattr(it, ATTR_CLASS, None) is not None
                    and getattr(it, ATTR_CLASS).get() in wanted}
        text = self.indices.get().strip()
        if os.path.isfile(text):
            chosen = self._fileIndices(text)
        else:
            chosen = {int(v) for v in text.replace(",", " ").split()}
        return chosen & set(star_rows(self.inputParticles.get(), names))

    def _fileIndices(self, path) -> set:
        """The indices in a .txt/.npy/.pkl file, read (and checked: range, repeats, tables) by the core's own
        filter_star, which writes them back as plain text."""
        star, source = star_of(self.inputParticles.get())
        check = self._getExtraPath("index_file", "particles.star")
        os.makedirs(os.path.dirname(check), exist_ok=True)
        run_core(self, f'{Plugin.getProgram("filter_star")} "{star}" --source-software {source} --ind "{path}" '
                       f'-o "{check}" --overwrite')
        return {int(v) for v in np.loadtxt(self._getExtraPath("index_file", "particles_ind.txt"), ndmin=1)}

    def exportStep(self, *_):
        inp = self.inputParticles.get()
        names = set_names(self, inp)
        keep = self._kept(inp.iterItems(), names)  # iterItems recycles one object: read as we go
        if not keep:
            raise ValueError("The selection keeps none of this set's particles: check the classes or indices.")
        ind = self._getExtraPath("kept_indices.txt")
        np.savetxt(ind, sorted(keep), fmt="%d")
        star, source = star_of(inp)
        out_star = self._getExtraPath("particles_optimisation_set.star" if source == "relion5" else "particles.star")
        run_core(self, f'{Plugin.getProgram("filter_star")} "{star}" --source-software {source} '
                       f'--ind "{ind}" -o "{out_star}" --overwrite')  # our own folder: re-runnable
        out = inp.create(self._getPath())
        copy_with_attributes(inp, out, keep=keep, names=names)  # renumbered to the rows of the new STAR
        set_star(out, os.path.abspath(out_star), source)  # reliontomo: the filtered optimisation set
        if hasattr(out, "setNReParticles"):
            out.setNReParticles(len(keep))
        self._defineOutputs(outputParticles=out)
        self._defineSourceRelation(self.inputParticles, out)

    def _validate(self):
        inp = self.inputParticles.get()
        if inp is not None and star_of(inp)[0] is None:
            return ["The input particles carry no tomoDRGN/RELION 5 STAR."]
        if self.selectBy.get() == 1:
            text = (self.indices.get() or "").strip()
            if not text:
                return ["Give particle indices (0-based) or a file of them."]
            if not os.path.isfile(text) and not all(v.isdigit() for v in text.replace(",", " ").split()):
                return [f"Particle indices must be 0-based whole numbers (or a file of them), not '{text}'."]
            return []
        if inp is None:
            return []
        if getattr(inp.getFirstItem(), ATTR_CLASS, None) is None:
            return ["These particles have no tomoDRGN classes: use the particles of a 'tomoDRGN analyze' run "
                    "(its output classes' images), or select by indices."]
        try:
            wanted = self._wantedClasses()
        except ValueError:
            return [f"Classes to keep must be class numbers such as '1 3', not '{self.classIds.get()}'."]
        present = {int(c) for c in inp.getUniqueValues(ATTR_CLASS)}
        missing = sorted(c + 1 for c in wanted - present)
        if not wanted or missing:
            return [f"No class {', '.join(map(str, missing)) or '(none given)'} in these particles: their classes "
                    f"are {', '.join(str(c + 1) for c in sorted(present))}."]
        return []

    def _summary(self):
        if not hasattr(self, "outputParticles"):
            return []
        return [f"{self.outputParticles.getSize()} of {self.inputParticles.get().getSize()} particles kept; "
                f"STAR: {self._getExtraPath()}"]

    def _methods(self):
        if not hasattr(self, "outputParticles"):
            return []
        how = f"classes {self.classIds.get()}" if self.selectBy.get() == 0 else "a list of particle indices"
        return [f"{self.outputParticles.getSize()} particles were selected by tomoDRGN {how} [Powell2024] and "
                "written as a STAR file of the input's format."]

    def _citations(self):
        return ["Powell2024"]
