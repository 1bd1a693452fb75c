"""tomoDRGN prepare image series: particles picked/aligned by other plugins (SetOfSubTomograms or
SetOfCoordinates3D) + their aligned SetOfTiltSeries (+ SetOfCTFTomoSeries) -> each particle's 2D tilt images,
per-tilt pose, defocus and dose in our image-series STAR + .mrcs (tomodrgn_core.tiltseries does the work)."""
import os

import pyworkflow.object as pwobj
from pwem.protocols import EMProtocol
from pyworkflow.protocol import params

from ..constants import ATTR_INDEX
from ..objects import TomoDrgnParticles

HANDS = ["off", "+1", "-1"]


class ProtTomoDrgnPrepareImageSeries(EMProtocol):
    """Extract particle tilt-image series from aligned tilt series for tomoDRGN training."""
    _label = "tomoDRGN prepare image series"
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

    def extractStep(self):
        from tomodrgn_core.tiltseries import TomogramParticles, prepare_image_series
        from ..convert import ctf_table, particle_positions, tilt_geometry

        ctfs = ctf_table(self.inputCtf.get()) if self.inputCtf.get() is not None else {}
        ts_apix = self.inputTiltSeries.get().getSamplingRate()
        positions = particle_positions(self.inputParticles.get(), ts_apix)
        tomos = []
        for ts in self.inputTiltSeries.get().iterItems():  # nested sets: read each while iterating
            if ts.getTsId() not in positions:
                continue
            ids, xyz, poses = positions.pop(ts.getTsId())
            stack, geom = tilt_geometry(ts, ctfs.get(ts.getTsId()), self.defocus.get())
            tomos.append(TomogramParticles(ts.getTsId(), stack, geom, xyz, poses, [str(i) for i in ids]))
        for tomo_id, (ids, _, _) in positions.items():
            self.warning(f"{len(ids)} particles of '{tomo_id}' skipped: no tilt series with that id")
        acq = self.inputTiltSeries.get().getAcquisition()
        report = prepare_image_series(tomos, self.boxSize.get(), self._star(), binning=self.binning.get(),
                                      invert=bool(self.invert), normalise=bool(self.normalise),
                                      defocus_hand=[0.0, 1.0, -1.0][self.defocusHand.get()],
                                      voltage=acq.getVoltage() or 300.0, cs=acq.getSphericalAberration() or 2.7,
                                      amp_contrast=acq.getAmplitudeContrast() or 0.1, overwrite=True)
        self.info(f"{report.n_particles} particles, {report.n_images} tilt images -> {report.star}; "
                  f"{report.dropped_tilts} tilt boxes outside their image dropped")
        if report.dropped_particles:
            self.warning(f"{len(report.dropped_particles)} particles have no tilt left and were not written")

    def createOutputStep(self):
        from tomodrgn_core.io import load_particles, schema as S
        from ..convert import fill_particles

        ps = load_particles(self._star(), "warp")
        first = ps.table.groupby(S.PARTICLE_INDEX)[S.PARTICLE_ID].first()
        index_of = {int(pid): int(i) for i, pid in first.items()}  # input object id -> row in the STAR
        out = TomoDrgnParticles.create(self._getPath())
        out.setStarFile(os.path.abspath(self._star()))
        out.setSourceSoftware("warp")
        fill_particles(ps, out)  # sampling, acquisition, image location, the lowest-dose tilt's pose
        # keep the input's own coordinates and alignment so RELION/Dynamo boxes can re-extract and refine
        inp = self.inputParticles.get()
        originals = {}
        for item in inp.iterItems():
            if int(item.getObjId()) in index_of:
                originals[index_of[int(item.getObjId())]] = item.clone()
        final = TomoDrgnParticles.create(self._getPath(), suffix="final")
        final.copyInfo(out)
        final.setStarFile(out.getStarFile())
        final.setSourceSoftware("warp")
        for sub in out.iterItems():
            new = sub.clone()
            orig = originals[getattr(sub, ATTR_INDEX).get()]
            if hasattr(orig, "getCoordinate3D"):
                new.setCoordinate3D(orig.getCoordinate3D())
                new.setTransform(orig.getTransform())
            else:
                new.setCoordinate3D(orig)
            setattr(new, ATTR_INDEX, pwobj.Integer(getattr(sub, ATTR_INDEX).get()))
            final.append(new)
        self._defineOutputs(outputParticles=final)
        self._defineSourceRelation(self.inputParticles, final)
        self._defineSourceRelation(self.inputTiltSeries, final)

    def _validate(self):
        errors = []
        if self.boxSize.get() < 8 or self.binning.get() < 1 or self.boxSize.get() % self.binning.get():
            errors.append("The box must be at least 8 px and a multiple of the binning.")
        parts, ts = self.inputParticles.get(), self.inputTiltSeries.get()
        if parts is not None and ts is not None:
            ts_ids = set(ts.getUniqueValues("_tsId"))
            first = parts.getFirstItem()
            coord = first if not hasattr(first, "getCoordinate3D") else first.getCoordinate3D()
            if coord is None or coord.getTomoId() not in ts_ids:
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
