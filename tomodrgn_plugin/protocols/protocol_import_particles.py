"""tomoDRGN import particles: a Warp/M image-series STAR or a RELION 5 / WarpTools optimisation set."""
import os

from pwem.protocols import EMProtocol
from pyworkflow.protocol import params

from ..constants import SOURCE_CHOICES
from ..convert import RELION5_SET, relion_class
from ..objects import TomoDrgnParticles


class ProtTomoDrgnImportParticles(EMProtocol):
    """Import particle tilt-image series for tomoDRGN (Warp/M, cryoSRPNT or RELION 5 / WarpTools layout)."""
    _label = "tomoDRGN import particles"
    _possibleOutputs = {"outputParticles": TomoDrgnParticles}

    def _defineParams(self, form):
        form.addSection(label="Input")
        form.addParam("starFile", params.PathParam, important=True, label="Particles STAR",
                      help="Warp/M image-series STAR, or a RELION 5 optimisation set (or its particles STAR)")
        form.addParam("sourceSoftware", params.EnumParam, choices=SOURCE_CHOICES, default=0,
                      label="Source software", help="auto detects the layout from the STAR columns")
        form.addParam("dataDir", params.PathParam, allowsNull=True, expertLevel=params.LEVEL_ADVANCED,
                      label="Stacks folder",
                      help="where the .mrcs stacks are, if not where the STAR says (a copy of the STAR naming them by "
                           "absolute path is written in this run)")
        form.addParam("asRelionSet", params.BooleanParam, default=False, label="Output RELION 5 pseudo-subtomograms?",
                      help="RELION 5 optimisation sets only, needs scipion-em-reliontomo: the output is its "
                           "RelionSetOfPseudoSubtomograms, so RELION 5 refine/classify protocols take it too")

    def _insertAllSteps(self):
        self._insertFunctionStep(self.importStep)

    def _source(self):
        return SOURCE_CHOICES[self.sourceSoftware.get()]

    def importStep(self):
        import numpy as np
        from .. import Plugin
        from ..convert import RELION5_SET, fill_particles, fill_relion_particles, relion_class
        from ._run import particle_table, run_core

        star = self.starFile.get()
        datadir = self.dataDir.get() or None
        rows, info = particle_table(self, star, self._source(), datadir=datadir)  # the core reads the STAR
        if datadir:
            # the stacks are not where the STAR says: a copy of it that names them by absolute path, so that
            # training, analysis and export need no stacks folder of their own
            copy = self._getExtraPath("particles_optimisation_set.star" if info["source"] == "relion5"
                                      else "particles.star")
            every = self._getExtraPath("all_rows.txt")
            np.savetxt(every, np.arange(info["n_particles"]), fmt="%d")
            run_core(self, f'{Plugin.getProgram("filter_star")} "{star}" --source-software {info["source"]} '
                           f'--datadir "{datadir}" --ind "{every}" -o "{copy}" --overwrite')
            star = copy
            if info["source"] == "relion5":
                info["optimisation_set"] = os.path.abspath(copy)
        self.info(f"{info['n_particles']} particles ({info['source']} layout), {info['n_images']} tilt images, "
                  f"{info['ntilts_min']}-{info['ntilts_max']} tilts per particle, box {info['box']}, "
                  f"{info['pixel_size']:g} A/px")
        if self.asRelionSet:
            if info["source"] != "relion5" or not info.get("optimisation_set"):
                raise ValueError(f"{star}: RELION 5 pseudo-subtomograms need a RELION 5 optimisation set -> fix: "
                                 "give the *_optimisation_set.star, or say No")
            out = relion_class(RELION5_SET).create(self._getPath())
            fill_relion_particles(rows, info, out)
        else:
            out = TomoDrgnParticles.create(self._getPath())
            out.setStarFile(os.path.abspath(star))
            out.setSourceSoftware(info["source"])
            fill_particles(rows, info, out)
        self._defineOutputs(outputParticles=out)

    def _validate(self):
        errors = []
        if not self.starFile.get() or not os.path.isfile(self.starFile.get()):
            errors.append(f"Particles STAR not found: {self.starFile.get()}")
        if self.asRelionSet and relion_class(RELION5_SET) is None:
            errors.append("RELION 5 pseudo-subtomograms need scipion-em-reliontomo: install it or say No.")
        return errors

    def _summary(self):
        if not hasattr(self, "outputParticles"):
            return ["Output not ready yet."]
        p = self.outputParticles
        from ..convert import star_of
        star, source = star_of(p)
        return [f"{p.getSize()} particles from {star} ({source} layout), "
                f"{p.getSamplingRate():.3g} A/px"]

    def _methods(self):
        return ["Particle tilt-image series were imported for tomoDRGN [Powell2024]."]

    def _citations(self):
        return ["Powell2024"]
