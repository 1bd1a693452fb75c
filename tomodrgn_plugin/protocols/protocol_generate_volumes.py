"""tomoDRGN generate volumes: at chosen latent points, along principal components, or a latent path."""
import glob
import os

import numpy as np
from pwem.objects import SetOfVolumes, Volume
from pwem.protocols import EMProtocol
from pyworkflow.protocol import params

from .. import Plugin

MODES = ["latent values", "PC traversal", "graph traversal"]


class ProtTomoDrgnGenerateVolumes(EMProtocol):
    """Generate volumes from a trained VAE at given z values, along PCs, or along a nearest-neighbour path."""
    _label = "tomoDRGN generate volumes"
    _possibleOutputs = {"outputVolumes": SetOfVolumes}

    def _defineParams(self, form):
        form.addSection(label="Input")
        form.addParam("inputModel", params.PointerParam, pointerClass="TomoDrgnModel", important=True,
                      label="Trained VAE")
        form.addParam("epoch", params.IntParam, default=-1, label="Epoch", help="-1: the last saved epoch")
        form.addParam("mode", params.EnumParam, choices=MODES, default=0, label="Volumes at")
        form.addParam("zValues", params.TextParam, default="", condition="mode == 0", label="Latent values",
                      help="one volume per line, zdim numbers each")
        form.addParam("pcDim", params.IntParam, default=1, condition="mode == 1", label="Principal component")
        form.addParam("nVols", params.IntParam, default=10, condition="mode == 1", label="Volumes")
        form.addParam("anchors", params.StringParam, default="0 1", condition="mode == 2",
                      label="Particle indices to connect", help="0-based particle indices, e.g. '12 408 77'")
        form.addParam("flip", params.BooleanParam, default=False, label="Flip hand?")

    def _insertAllSteps(self):
        self._insertFunctionStep(self.generateStep)
        self._insertFunctionStep(self.createOutputStep)

    def _epoch(self):
        return self.inputModel.get().resolveEpoch(self.epoch.get())

    def generateStep(self):
        workdir = self.inputModel.get().getWorkDir()
        out = self._getExtraPath("volumes")
        weights = os.path.join(workdir, f"weights.{self._epoch()}.pkl")
        flip = ["--flip"] if self.flip else []
        if self.mode.get() == 0:
            zfile = self._getExtraPath("z_values.txt")
            np.savetxt(zfile, np.atleast_2d(np.loadtxt(self.zValues.get().splitlines(), ndmin=2)))
            args = [Plugin.getProgram("eval_vol"), "--weights", weights, "--zfile", zfile, "-o", out] + flip
        else:
            zfile = os.path.join(workdir, f"z.{self._epoch()}.train.pkl")
            if self.mode.get() == 1:
                args = [Plugin.getProgram("pc_traversal"), zfile, "--dim", self.pcDim.get(), "-n", self.nVols.get()]
            else:
                args = [Plugin.getProgram("graph_traversal"), zfile, "--anchors", self.anchors.get()]
            args += ["--weights", weights, "-o", out] + flip
        self.runJob(Plugin.getPython(), " ".join(str(a) for a in args))

    def createOutputStep(self):
        vols = SetOfVolumes.create(self._getPath())
        from tomodrgn_core.io import read_volume
        files = sorted(glob.glob(self._getExtraPath("volumes", "*.mrc")) +
                       glob.glob(self._getExtraPath("volumes", "*", "*.mrc")))
        apix = read_volume(files[0])[1]
        vols.setSamplingRate(apix)
        for f in files:
            v = Volume(f)
            v.setSamplingRate(apix)
            vols.append(v)
        self._defineOutputs(outputVolumes=vols)
        self._defineSourceRelation(self.inputModel, vols)

    def _validate(self):
        if self.mode.get() == 0 and not self.zValues.get().strip():
            return ["Give at least one line of latent values."]
        return []

    def _citations(self):
        return ["Powell2024"]
