"""tomoDRGN compare runs: do two trained models (other seeds, or overlapping particle subsets) give the same
classes? ARI, the fraction of particles that keep their class, and the FSC of each matched pair of class volumes."""
from pwem.objects import SetOfFSCs
from pwem.protocols import EMProtocol
from pyworkflow.protocol import params

from .. import Plugin
from ._checks import fsc_set, read_summary, resolution
from ._gpu import core_env_and_device
from ._run import run_core
from .protocol_analyze import AUTO, _epoch_errors


class ProtTomoDrgnCompareRuns(EMProtocol):
    """Cluster the latent spaces of two runs on the same particles, match their classes (Hungarian algorithm) and
    report the adjusted Rand index, the share of particles that keep their class and, per matched class pair, the
    FSC between the two runs' class volumes (resolutions at 0.5 and 0.143)."""
    _label = "compare runs"
    _possibleOutputs = {"outputFSCs": SetOfFSCs}

    def _defineParams(self, form):
        form.addSection(label="Input")
        form.addParam("inputModelA", params.PointerParam, pointerClass="TomoDrgnModel", important=True,
                      label="Trained VAE (run A)")
        form.addParam("epochA", params.IntParam, default=-1, label="Epoch of run A",
                      help="0-based, as the run's files; -1: the last saved epoch")
        form.addParam("inputModelB", params.PointerParam, pointerClass="TomoDrgnModel", important=True,
                      label="Trained VAE (run B)", help="trained on the same particles: another seed, or an "
                                                        "overlapping subset (compared on the shared particles)")
        form.addParam("epochB", params.IntParam, default=-1, label="Epoch of run B",
                      help="0-based, as the run's files; -1: the last saved epoch")
        form.addParam("ksample", params.StringParam, default=AUTO, label="Number of classes",
                      help="'auto': chosen for each run as in tomoDRGN analyze, or a number of k-means classes")
        form.addParam("skipVolumes", params.BooleanParam, default=False, expertLevel=params.LEVEL_ADVANCED,
                      label="Skip class volumes?", help="labels and ARI only, no FSC")
        form.addHidden(params.USE_GPU, params.BooleanParam, default=True)
        form.addHidden(params.GPU_LIST, params.StringParam, default="0")

    def _epochs(self):
        return self.inputModelA.get().resolveEpoch(self.epochA.get()), \
            self.inputModelB.get().resolveEpoch(self.epochB.get())

    def _insertAllSteps(self):
        choices = self._epochs() + (self.ksample.get(), self.skipVolumes.get())
        self._insertFunctionStep(self.compareStep, *choices)
        self._insertFunctionStep(self.createOutputStep, *choices)

    def _outDir(self):
        return self._getExtraPath("compare")

    def compareStep(self, *_):
        ea, eb = self._epochs()
        args = [Plugin.getProgram("compare_runs"), self.inputModelA.get().getWorkDir(), ea,
                self.inputModelB.get().getWorkDir(), eb, "-o", self._outDir(), "--ksample",
                str(self.ksample.get()).strip().lower(), "--force"]  # our own folder: Continue re-runs it
        args += ["--skip-vol"] if self.skipVolumes else []
        env, device = core_env_and_device(self, require=False)
        run_core(self, " ".join(str(a) for a in args + device), env=env)

    def createOutputStep(self, *_):
        s = read_summary(self._outDir())
        if not s["fsc"]:
            return  # --skip-vol: the numbers are in the summary, there are no curves
        curves = {f"run A class {f['class_a'] + 1} / run B class {f['class_b'] + 1}": f["curve"] for f in s["fsc"]}
        fscs = fsc_set(self, s["fsc_frequency_per_A"], curves)
        self._defineOutputs(outputFSCs=fscs)
        self._defineSourceRelation(self.inputModelA, fscs)
        self._defineSourceRelation(self.inputModelB, fscs)

    def _validate(self):
        text = str(self.ksample.get() or "").strip().lower()
        if text != AUTO and not (text.isdigit() and int(text) >= 1):
            return [f"Number of classes must be 'auto' or a whole number of at least 1, not '{self.ksample.get()}'."]
        errors = []
        for model, epoch in ((self.inputModelA.get(), self.epochA.get()), (self.inputModelB.get(), self.epochB.get())):
            if model is not None:
                errors += _epoch_errors(model, epoch)
        return errors

    def _summary(self):
        try:
            s = read_summary(self._outDir())
        except OSError:
            return ["Comparison not finished yet."]
        lines = [f"{s['n_particles']} shared particles: ARI {s['ari']:.3f}, {100 * s['agreement']:.1f}% keep their "
                 f"class ({s['k_a']} classes in run A, {s['k_b']} in run B)"]
        lines += [f"run A class {f['class_a'] + 1} / run B class {f['class_b'] + 1}: FSC 0.5 at "
                  f"{resolution(f['resolution_A']['0.5'])}, 0.143 at {resolution(f['resolution_A']['0.143'])}"
                  for f in s["fsc"]]
        return lines + [f"plots: {self._outDir()}"]

    def _methods(self):
        try:
            s = read_summary(self._outDir())
        except OSError:
            return []
        return [f"Two tomoDRGN runs were compared on {s['n_particles']} shared particles: k-means classes matched "
                f"with the Hungarian algorithm agreed with an adjusted Rand index of {s['ari']:.2f} [Powell2024]."]

    def _citations(self):
        return ["Powell2024"]
