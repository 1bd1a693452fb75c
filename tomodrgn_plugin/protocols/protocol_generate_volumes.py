"""tomoDRGN generate volumes: at chosen latent points, along principal components, or a latent path."""
import glob
import os

import numpy as np
from pwem.objects import SetOfVolumes, Volume
from pwem.protocols import EMProtocol
from pyworkflow.protocol import params

from .. import Plugin
from ._gpu import core_env_and_device
from ._run import run_core
from .protocol_analyze import _epoch_errors

MODES = ["latent values", "PC traversal", "graph traversal"]


class ProtTomoDrgnGenerateVolumes(EMProtocol):
    """Generate volumes from a trained VAE at given z values, along PCs, or along a nearest-neighbour path."""
    _label = "generate volumes"
    _possibleOutputs = {"outputVolumes": SetOfVolumes}

    def _defineParams(self, form):
        form.addSection(label="Input")
        form.addParam("inputModel", params.PointerParam, pointerClass="TomoDrgnModel", important=True,
                      label="Trained VAE")
        form.addParam("epoch", params.IntParam, default=-1, label="Epoch",
                      help="0-based, as the run's files (weights.<epoch>.pkl); -1: the last saved epoch")
        form.addParam("mode", params.EnumParam, choices=MODES, default=0, label="Volumes at")
        form.addParam("zValues", params.TextParam, default="", condition="mode == 0", label="Latent values",
                      help="one volume per line, zdim numbers each")
        form.addParam("pcDim", params.IntParam, default=1, condition="mode == 1", label="Principal component")
        form.addParam("nVols", params.IntParam, default=10, condition="mode == 1", label="Volumes")
        form.addParam("anchors", params.StringParam, default="0 1", condition="mode == 2",
                      label="Particle indices to connect", help="0-based particle indices, e.g. '12 408 77'")
        form.addParam("flip", params.BooleanParam, default=False, label="Flip hand?")
        form.addHidden(params.USE_GPU, params.BooleanParam, default=True)
        form.addHidden(params.GPU_LIST, params.StringParam, default="0")

    def _insertAllSteps(self):
        # the choices are the step's arguments: Continue after changing them generates the new volumes
        choices = (self.mode.get(), self.zValues.get(), self.pcDim.get(), self.nVols.get(), self.anchors.get(),
                   self._epoch(), self.flip.get())
        self._insertFunctionStep(self.generateStep, *choices)
        self._insertFunctionStep(self.createOutputStep, *choices)

    def _zRows(self):
        """The latent values as an (n, zdim) array; ValueError naming the line that is not numbers."""
        rows = [line.replace(",", " ").split() for line in self.zValues.get().splitlines() if line.strip()]
        for i, row in enumerate(rows, 1):
            try:
                [float(v) for v in row]
            except ValueError:
                raise ValueError(f"line {i} of the latent values is not numbers: '{' '.join(row)}'") from None
        widths = {len(r) for r in rows}
        if len(widths) > 1:
            raise ValueError(f"the latent value lines have different lengths ({', '.join(map(str, sorted(widths)))})")
        return np.array(rows, dtype=float)

    def _epoch(self):
        return self.inputModel.get().resolveEpoch(self.epoch.get())

    def generateStep(self, *_):
        workdir = self.inputModel.get().getWorkDir()
        out = self._getExtraPath("volumes")
        weights = os.path.join(workdir, f"weights.{self._epoch()}.pkl")
        flip = ["--flip"] if self.flip else []
        if self.mode.get() == 0:
            zfile = self._getExtraPath("z_values.txt")
            np.savetxt(zfile, self._zRows())
            args = [Plugin.getProgram("eval_vol"), "--weights", weights, "--zfile", zfile, "-o", out] + flip
        else:
            zfile = os.path.join(workdir, f"z.{self._epoch()}.train.pkl")
            if self.mode.get() == 1:
                args = [Plugin.getProgram("pc_traversal"), zfile, "--dim", self.pcDim.get(), "-n", self.nVols.get()]
            else:
                args = [Plugin.getProgram("graph_traversal"), zfile, "--anchors", self.anchors.get().replace(",", " ")]
            args += ["--weights", weights, "-o", out] + flip
        env, device = core_env_and_device(self, require=False)
        if os.path.isdir(out):  # Continue with new choices: only the new volumes in the output
            import shutil
            shutil.rmtree(out)
        run_core(self, " ".join(str(a) for a in args + device), env=env)

    def createOutputStep(self, *_):
        import mrcfile
        vols = SetOfVolumes.create(self._getPath())
        files = sorted(glob.glob(self._getExtraPath("volumes", "*.mrc")) +
                       glob.glob(self._getExtraPath("volumes", "*", "*.mrc")))
        with mrcfile.open(files[0], header_only=True, permissive=True) as m:
            apix = float(m.voxel_size.x)
        vols.setSamplingRate(apix)
        for f in files:
            v = Volume(f)
            v.setSamplingRate(apix)
            vols.append(v)
        self._defineOutputs(outputVolumes=vols)
        self._defineSourceRelation(self.inputModel, vols)

    def _validate(self):
        model = self.inputModel.get()
        zdim = model.getZDim() if model is not None else None
        mode = self.mode.get()
        if mode == 0:
            if not self.zValues.get().strip():
                return ["Give at least one line of latent values."]
            try:
                z = self._zRows()
            except ValueError as err:
                return [f"Latent values: {err}."]
            if zdim and z.shape[1] != zdim:
                return [f"Each line of latent values needs {zdim} numbers (the model's latent dimension), not "
                        f"{z.shape[1]}."]
        elif mode == 1:
            if zdim and not 1 <= self.pcDim.get() <= zdim:
                return [f"Principal component must be 1..{zdim} (the latent dimension), not {self.pcDim.get()}."]
            if self.nVols.get() < 2:
                return ["A traversal needs at least 2 volumes."]
        elif not all(v.isdigit() for v in self.anchors.get().replace(",", " ").split()) or \
                len(self.anchors.get().replace(",", " ").split()) < 2:
            return [f"Give at least two 0-based particle indices to connect, not '{self.anchors.get()}'."]
        return _epoch_errors(model, self.epoch.get()) if model is not None else []

    def _summary(self):
        if not hasattr(self, "outputVolumes"):
            return ["Volumes not generated yet."]
        how = MODES[self.mode.get()]
        return [f"{self.outputVolumes.getSize()} volumes ({how}) from epoch {self._epoch()} of "
                f"{self.inputModel.get().getWorkDir()}"]

    def _methods(self):
        if not hasattr(self, "outputVolumes"):
            return []
        return [f"{self.outputVolumes.getSize()} volumes were generated from the tomoDRGN decoder at "
                f"{MODES[self.mode.get()]} [Powell2024]."]

    def _citations(self):
        return ["Powell2024"]
