"""tomoDRGN prepare image series: particles picked/aligned by other plugins (SetOfSubTomograms or
SetOfCoordinates3D) + their aligned SetOfTiltSeries (+ SetOfCTFTomoSeries) -> each particle's 2D tilt images,
per-tilt pose, defocus and dose in our image-series STAR + .mrcs. This protocol writes what the Scipion objects
hold into a JSON file; the core (``tomodrgn prepare_image_series``) does the geometry and the extraction."""
import json
import os

import pyworkflow.object as pwobj
from pwem.protocols import EMProtocol
from pyworkflow.protocol import params

from .. import Plugin
from ..objects import TomoDrgnParticles
from ._run import run_core

HANDS = ["off", "+1", "-1"]


class ProtTomoDrgnPrepareImageSeries(EMProtocol):
    """Extract particle tilt-image series from aligned tilt series for tomoDRGN training."""
    _label = "prepare image series"
    _possibleOutputs = {"outputParticles": TomoDrgnParticles}

    def _defineParams(self, form):
        form.addSection(label="Input")
        form.addParam("inputParticles", params.PointerParam, important=True, label="Particles",
                      pointerClass="SetOfSubTomograms,SetOfCoordinates3D",
                      help="coordinates with orientations (e.g. template matching, Dynamo/RELION refinements)")
        form.addParam("inputTiltSeries", params.PointerParam, pointerClass="SetOfTiltSeries", important=True,
                      label="Aligned tilt series", help="the raw tilt series with their alignment (transforms)")
        form.addParam("inputCtf", params.PointerParam, pointerClass="SetOfCTFTomoSeries", allowsNull=True,
                      label="CTF estimation", help="per-tilt defocus; without it the default defocus is used")
        form.addParam("defocus", params.FloatParam, default=25000.0, expertLevel=params.LEVEL_ADVANCED,
                      label="Default defocus (A)", help="for tilts with no CTF estimation")
        form.addParam("boxSize", params.IntParam, default=64, label="Box (px, tilt-series sampling)")
        form.addParam("binning", params.IntParam, default=1, label="Binning",
                      help="Fourier cropping of the extracted boxes; the box must be a multiple")
        form.addParam("invert", params.BooleanParam, default=True, label="Invert contrast?",
                      help="Yes for raw tilt series (dark protein): tomoDRGN images have white protein")
        form.addParam("normalise", params.BooleanParam, default=True, label="Normalise background?")
        form.addParam("defocusHand", params.EnumParam, choices=HANDS, default=0, expertLevel=params.LEVEL_ADVANCED,
                      label="Per-particle defocus hand", help="add +-(particle height along the beam) to defocus")

    def _insertAllSteps(self):
        self._insertFunctionStep(self.extractStep)
        self._insertFunctionStep(self.createOutputStep)

    def _star(self):
        return self._getExtraPath("particles_imageseries.star")

    def _spec(self):
        return self._getExtraPath("tilt_series.json")

    def _table(self):
        return self._getExtraPath("particle_table.csv")

    def extractStep(self):
        from ..convert import ctf_table, particle_spec, tilt_series_spec

        ctfs = ctf_table(self.inputCtf.get()) if self.inputCtf.get() is not None else {}
        particles = particle_spec(self.inputParticles.get())
        series = []
        for ts in self.inputTiltSeries.get().iterItems():  # nested sets: read each while iterating
            if ts.getTsId() not in particles:
                continue
            entry = tilt_series_spec(ts, ctfs.get(ts.getTsId()), self.defocus.get())
            entry["particles"] = particles.pop(ts.getTsId())
            series.append(entry)
        for tomo_id, entry in particles.items():
            self.warning(f"{len(entry['ids'])} particles of '{tomo_id}' skipped: no tilt series with that id")
        acq = self.inputTiltSeries.get().getAcquisition()
        with open(self._spec(), "w") as f:
            json.dump({"voltage": acq.getVoltage() or 300.0, "cs": acq.getSphericalAberration() or 2.7,
                       "amp_contrast": acq.getAmplitudeContrast() or 0.1, "tilt_series": series}, f)
        args = [Plugin.getProgram("prepare_image_series"), f'"{os.path.abspath(self._spec())}"',
                "-D", self.boxSize.get(), "--bin", self.binning.get(),
                "--defocus-hand", [0.0, 1.0, -1.0][self.defocusHand.get()], "-o", f'"{os.path.abspath(self._star())}"',
                "--table", f'"{os.path.abspath(self._table())}"', "--force"]
        args += ([] if self.invert else ["--no-invert"]) + ([] if self.normalise else ["--no-normalise"])
        run_core(self, " ".join(str(a) for a in args))

    def createOutputStep(self):
        from ..convert import fill_particles, read_table

        from tomo.objects import SetOfCoordinates3D

        rows, info = read_table(self._table())
        wanted = {r["particle_id"] for r in rows}  # the input's object ids that were written
        inp = self.inputParticles.get()
        is_coords = isinstance(inp, SetOfCoordinates3D)
        # each item keeps its input coordinate (same tomogram, same coordinate set: RELION/Dynamo/tomo boxes can
        # re-extract it); its Transform is the input's pose and offset at this set's sampling (the core's table)
        coordinates = {}
        for item in inp.iterItems():
            if str(item.getObjId()) in wanted:
                coord = item if is_coords else item.getCoordinate3D()
                if coord is not None:
                    coordinates[str(item.getObjId())] = coord.clone()
        out = TomoDrgnParticles.create(self._getPath())
        out.setStarFile(os.path.abspath(self._star()))
        out.setSourceSoftware("warp")
        fill_particles(rows, info, out, coordinates)
        coords = self.inputParticles if is_coords else inp.getCoordinates3D(asPointer=True)
        if coords is not None and coords.hasValue():
            out.setCoordinates3D(pwobj.Pointer(coords.getObjValue(), extended=coords.getExtended()))
        else:
            self.warning("The input subtomograms have no coordinate set: the output has none either.")
        self._defineOutputs(outputParticles=out)
        self._defineSourceRelation(self.inputParticles, out)
        self._defineSourceRelation(self.inputTiltSeries, out)

    def _validate(self):
        errors = []
        if self.boxSize.get() < 8 or self.binning.get() < 1 or self.boxSize.get() % self.binning.get():
            errors.append("The box must be at least 8 px and a multiple of the binning.")
        parts, ts = self.inputParticles.get(), self.inputTiltSeries.get()
        if parts is not None and ts is not None:
            ts_ids = set(ts.getUniqueValues("_tsId"))
            first = parts.getFirstItem()
            coord = first if not hasattr(first, "getCoordinate3D") else first.getCoordinate3D()
            if coord is None:
                errors.append("These particles carry no 3D coordinate per item (e.g. RELION 5 pseudo-subtomograms, "
                              "which are tilt-image series already): train on them directly, or give their "
                              "coordinate set here.")
            elif coord.getTomoId() not in ts_ids:
                errors.append(f"The particles' tomogram '{getattr(coord, 'getTomoId', lambda: None)()}' has no tilt "
                              f"series among {sorted(ts_ids)[:5]}: give the tilt series these particles come from.")
        return errors

    def _summary(self):
        if not hasattr(self, "outputParticles"):
            return ["Output not ready yet."]
        return [f"{self.outputParticles.getSize()} particle image series in {self.outputParticles.getStarFile()}"]

    def _methods(self):
        return [f"Particle tilt images ({self.boxSize.get()} px, binning {self.binning.get()}) were extracted from "
                "the aligned tilt series for tomoDRGN [Powell2024]."]

    def _citations(self):
        return ["Powell2024"]
