"""tomoDRGN subset export: chosen classes or indices -> the same kind of particle set, plus the filtered
STAR (Warp image series or RELION 5 optimisation set) for RELION/Dynamo and external tools."""
import os

import numpy as np
from pwem.protocols import EMProtocol
from pyworkflow.protocol import params

from .. import Plugin
from ..constants import ATTR_CLASS, ATTR_INDEX
from ..convert import copy_with_attributes, set_star, star_of

SELECT = ["classes", "particle indices"]


class ProtTomoDrgnSubsetExport(EMProtocol):
    """Keep the particles of the chosen tomoDRGN classes (or an index list); the output set has the input's
    class, so RELION/Dynamo protocols take it unchanged, and its STAR holds exactly those particles."""
    _label = "tomoDRGN subset export"

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
        self._insertFunctionStep(self.exportStep)

    def _kept(self, items) -> set:
        if self.selectBy.get() == 0:
            wanted = {int(c) - 1 for c in self.classIds.get().replace(",", " ").split()}
            return {getattr(it, ATTR_INDEX).get() for it in items if getattr(it, ATTR_CLASS, None) is not None
                    and getattr(it, ATTR_CLASS).get() in wanted}
        text = self.indices.get().strip()
        if os.path.isfile(text):
            from tomodrgn_core.analysis.selection import read_array
            return {int(i) for i in read_array(text)}
        return {int(v) for v in text.replace(",", " ").split()}

    def exportStep(self):
        inp = self.inputParticles.get()
        keep = self._kept(inp.iterItems())  # iterItems recycles one object: read as we go
        ind = self._getExtraPath("kept_indices.txt")
        np.savetxt(ind, sorted(keep), fmt="%d")
        star, source = star_of(inp)
        out_star = self._getExtraPath("particles_optimisation_set.star" if source == "relion5" else "particles.star")
        self.runJob(Plugin.getPython(), f'{Plugin.getProgram("filter_star")} "{star}" --source-software {source} '
                                        f'--ind {ind} -o {out_star}')
        out = inp.create(self._getPath())
        copy_with_attributes(inp, out, keep=keep)
        set_star(out, os.path.abspath(out_star), source)  # reliontomo: the filtered optimisation set
        if hasattr(out, "setNReParticles"):
            out.setNReParticles(len(keep))
        self._defineOutputs(outputParticles=out)
        self._defineSourceRelation(self.inputParticles, out)

    def _validate(self):
        inp = self.inputParticles.get()
        if inp is not None and star_of(inp)[0] is None:
            return ["The input particles carry no tomoDRGN/RELION 5 STAR."]
        if self.selectBy.get() == 0 and inp is not None:
            first = inp.getFirstItem()
            if getattr(first, ATTR_CLASS, None) is None:
                return ["These particles have no tomoDRGN classes: use the particles of a 'tomoDRGN analyze' run "
                        "(its output classes' images), or select by indices."]
        return []

    def _summary(self):
        if not hasattr(self, "outputParticles"):
            return []
        return [f"{self.outputParticles.getSize()} of {self.inputParticles.get().getSize()} particles kept; "
                f"STAR: {self._getExtraPath()}"]

    def _citations(self):
        return ["Powell2024"]
