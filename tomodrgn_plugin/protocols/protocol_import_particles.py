"""tomoDRGN import particles: a Warp/M image-series STAR or a RELION 5 / WarpTools optimisation set."""
import os

from pwem.protocols import EMProtocol
from pyworkflow.protocol import params
from tomo.objects import SetOfCoordinates3D, SetOfTomograms

from ..constants import SOURCE_CHOICES
from ..convert import RELION5_SET, relion_class
from ..objects import TomoDrgnParticles


class ProtTomoDrgnImportParticles(EMProtocol):
    """Import particle tilt-image series for tomoDRGN (Warp/M, cryoSRPNT or RELION 5 / WarpTools layout)."""
    _label = "import particles"
    # particles (ours, or reliontomo's RelionSetOfPseudoSubtomograms), their 3D coordinates and the tomograms
    # those refer to (records from the STAR: name, size, sampling; the file where the STAR names one that exists)
    _possibleOutputs = {"outputParticles": TomoDrgnParticles, "outputCoordinates": SetOfCoordinates3D,
                        "outputTomograms": SetOfTomograms}

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
        from ..sets import coordinate_set, relion_pseudo_subtomograms, tomogram_records
        from ..convert import fill_particles
        from ._run import particle_table, run_core

        star = self.starFile.get()
        datadir = self.dataDir.get() or None
        rows, info = particle_table(self, star, self._source(), datadir=datadir)  # the core reads the STAR
        if datadir or info["source"] == "relion5":
            # a copy of the STAR naming the stacks by absolute path, so that training, analysis, export and other
            # plugins' boxes find them from the Scipion project (RELION 5 names them relative to RELION's project,
            # and reliontomo reads rlnImageName as written)
            copy = os.path.abspath(self._getExtraPath("particles_optimisation_set.star" if info["source"] == "relion5"
                                                      else "particles.star"))
            every = self._getExtraPath("all_rows.txt")
            np.savetxt(every, np.arange(info["n_particles"]), fmt="%d")
            extra = f' --datadir "{datadir}"' if datadir else ""
            run_core(self, f'{Plugin.getProgram("filter_star")} "{star}" --source-software {info["source"]}{extra} '
                           f'--ind "{every}" -o "{copy}" --overwrite')
            star = copy
            rows, info = particle_table(self, star, info["source"])
        self.info(f"{info['n_particles']} particles ({info['source']} layout), {info['n_images']} tilt images, "
                  f"{info['ntilts_min']}-{info['ntilts_max']} tilts per particle, box {info['box']}, "
                  f"{info['pixel_size']:g} A/px")
        if self.asRelionSet and (info["source"] != "relion5" or not info.get("optimisation_set")):
            raise ValueError(f"{star}: RELION 5 pseudo-subtomograms need a RELION 5 optimisation set -> fix: "
                             "give the *_optimisation_set.star, or say No")
        # set-level companions, as other plugins' importers make them: tomogram records and coordinates
        tomograms = tomogram_records(self._getPath(), info, rows)
        tomograms.write()
        coordinates = coordinate_set(self._getPath(), rows, info, tomograms, relion=bool(self.asRelionSet))
        coordinates.write()
        if self.asRelionSet:
            out = relion_pseudo_subtomograms(self._getPath(), info, rows, coordinates)
        else:
            out = TomoDrgnParticles.create(self._getPath())
            out.setStarFile(star)
            out.setSourceSoftware(info["source"])
            fill_particles(rows, info, out)
            out.setCoordinates3D(coordinates)
        self._defineOutputs(outputTomograms=tomograms, outputCoordinates=coordinates, outputParticles=out)
        self._defineSourceRelation(coordinates, out)

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
