"""tomoDRGN train homogeneous / train VAE: run the core trainer, register a Volume or a model + latent z."""
import glob
import os

import pyworkflow.utils as pwutils
import pickle
import re

from pwem.objects import Volume
from pwem.protocols import EMProtocol
from pyworkflow.protocol import params

from .. import Plugin
from ..constants import POOLING_CHOICES, TRAIN_DIR
from ..convert import copy_with_attributes, set_star, star_of
from ..objects import TomoDrgnModel, TomoDrgnParticles


class _ProtTomoDrgnTrainBase(EMProtocol):
    _command = None
    _decDim = 256
    _lrSchedule = "constant"
    LR_SCHEDULES = ["constant", "cosine"]
    # how a step runs on a GPU: the choice's label -> the train flag
    STEP_MODES = {"eager (default)": [], "CUDA graphs": ["--cuda-graph"], "torch.compile": ["--compile"]}

    def _defineParams(self, form):
        form.addSection(label="Input")
        form.addParam("inputParticles", params.PointerParam, important=True, label="Particles",
                      pointerClass="TomoDrgnParticles,RelionSetOfPseudoSubtomograms",
                      help="from 'tomoDRGN import particles' or RELION 5 pseudo-subtomograms (reliontomo)")
        form.addParam("numEpochs", params.IntParam, default=20, label="Epochs")
        form.addParam("batchSize", params.IntParam, default=8, label="Batch size (particles)")
        form.addParam("learningRate", params.FloatParam, default=2e-4, expertLevel=params.LEVEL_ADVANCED,
                      label="Learning rate")
        form.addParam("lrSchedule", params.EnumParam, choices=self.LR_SCHEDULES,
                      default=self.LR_SCHEDULES.index(self._lrSchedule), expertLevel=params.LEVEL_ADVANCED,
                      label="Learning rate schedule",
                      help="cosine: decay to 1% of the learning rate at the last epoch, so the model settles on "
                           "the data instead of jittering on the noise (better maps from train homogeneous)")
        form.addParam("sampleNtilts", params.IntParam, allowsNull=True, expertLevel=params.LEVEL_ADVANCED,
                      label="Tilts sampled per particle", help="default: the fewest tilts of any particle")
        form.addParam("invertData", params.BooleanParam, default=True, label="Invert data sign?",
                      help="Yes for Warp/RELION stacks (white protein)")
        form.addParam("doseMask", params.BooleanParam, default=True, label="Dose lattice mask?")
        form.addParam("doseWeight", params.BooleanParam, default=True, label="Dose weighting?")
        form.addParam("tiltWeight", params.BooleanParam, default=True, label="Tilt weighting?")
        form.addParam("checkpoint", params.IntParam, default=1, label="Checkpoint every N epochs")
        form.addParam("seed", params.IntParam, default=0, expertLevel=params.LEVEL_ADVANCED, label="Seed")
        form.addParam("continueTraining", params.BooleanParam, default=False, label="Continue from last checkpoint?",
                      help="resume this protocol's run from its last weights.<epoch>.pkl")
        form.addParam("stepMode", params.EnumParam, choices=list(self.STEP_MODES), default=0,
                      expertLevel=params.LEVEL_ADVANCED, label="GPU step",
                      help="For small batches on a GPU, which are bound by kernel launches: 'CUDA graphs' records "
                           "the step once and replays it per batch; 'torch.compile' compiles it into one graph "
                           "(replayed as a CUDA graph). Both fall back to eager if they fail; neither is used "
                           "with several GPUs; 'torch.compile' is slower on CPUs.")
        form.addParam("extraParams", params.StringParam, default="", expertLevel=params.LEVEL_ADVANCED,
                      label="Extra tomodrgn arguments")
        self._defineArchParams(form)
        form.addHidden(params.USE_GPU, params.BooleanParam, default=True, label="Use GPU?")
        form.addHidden(params.GPU_LIST, params.StringParam, default="0", label="GPU IDs",
                       help="several IDs: DistributedDataParallel over those GPUs")
        form.addParallelSection(threads=2, mpi=0)

    def _defineArchParams(self, form):
        form.addSection(label="Network")
        form.addParam("decDim", params.IntParam, default=self._decDim, label="Decoder width")
        form.addParam("decLayers", params.IntParam, default=3, label="Decoder layers")

    def _insertAllSteps(self):
        self._insertFunctionStep(self.trainStep)
        self._insertFunctionStep(self.createOutputStep)

    def _workDir(self):
        return self._getExtraPath(TRAIN_DIR)

    def _archArgs(self):
        return ["--dec-dim", self.decDim.get(), "--dec-layers", self.decLayers.get()]

    def _args(self):
        star, source = star_of(self.inputParticles.get())
        args = [Plugin.getProgram(self._command), f'"{star}"', "--source-software", source, "-o", self._workDir(),
                "-n", self.numEpochs.get(), "-b", self.batchSize.get(), "--lr", self.learningRate.get(),
                "--lr-schedule", self.LR_SCHEDULES[self.lrSchedule.get()],
                "--checkpoint", self.checkpoint.get(), "--seed", self.seed.get(),
                "--num-workers", self.numberOfThreads.get()] + self._archArgs()
        args += list(self.STEP_MODES.values())[self.stepMode.get()]
        if self.sampleNtilts.get():
            args += ["--sample-ntilts", self.sampleNtilts.get()]
        if not self.invertData:
            args.append("--uninvert-data")
        args += [flag for on, flag in ((self.doseMask, "--l-dose-mask"), (self.doseWeight, "--recon-dose-weight"),
                                       (self.tiltWeight, "--recon-tilt-weight")) if on.get()]
        if self.continueTraining and glob.glob(os.path.join(self._workDir(), "weights.*.pkl")):
            args += ["--load", "latest"]
        elif os.path.isdir(self._workDir()):
            args.append("--force")  # a restarted protocol starts over, as Scipion users expect
        gpus = [g for g in str(self.getAttributeValue(params.GPU_LIST, "0")).replace(",", " ").split() if g]
        if self.getAttributeValue(params.USE_GPU, True):
            args += ["--device", "auto"] + (["--multigpu"] if len(gpus) > 1 else [])
        else:
            args += ["--device", "cpu"]
        return " ".join(str(a) for a in args) + " " + self.extraParams.get("")

    def _env(self):
        env = pwutils.Environ(os.environ)
        if self.getAttributeValue(params.USE_GPU, True):
            env["CUDA_VISIBLE_DEVICES"] = str(self.getAttributeValue(params.GPU_LIST, "0")).replace(" ", ",")
        return env

    def trainStep(self):
        self.runJob(Plugin.getPython(), self._args(), env=self._env())

    def _lastEpoch(self) -> int:
        epochs = [int(m.group(1)) for f in glob.glob(os.path.join(self._workDir(), "weights.*.pkl"))
                  if (m := re.search(r"weights\.(\d+)\.pkl$", f))]
        return max(epochs)

    def _validate(self):
        errors = []
        particles = self.inputParticles.get()
        if particles is not None and star_of(particles)[0] is None:
            errors.append("The input particles carry no tomoDRGN/RELION 5 STAR: import them with "
                          "'tomoDRGN import particles' first.")
        if self.numEpochs.get() < 1 or self.batchSize.get() < 1:
            errors.append("Epochs and batch size must be at least 1.")
        return errors

    def _citations(self):
        return ["Powell2024", "Zhong2021"]


class ProtTomoDrgnTrainHomogeneous(_ProtTomoDrgnTrainBase):
    """Train a homogeneous tomoDRGN decoder (no latent space): a neural reconstruction of all particles."""
    _label = "tomoDRGN train homogeneous"
    _command = "train_nn"
    _decDim = 512
    _lrSchedule = "cosine"
    _possibleOutputs = {"outputVolume": Volume}

    def createOutputStep(self):
        vol = Volume()
        vol.setFileName(os.path.join(self._workDir(), "reconstruct.mrc"))
        vol.setSamplingRate(self.inputParticles.get().getSamplingRate())
        self._defineOutputs(outputVolume=vol)
        self._defineSourceRelation(self.inputParticles, vol)

    def _summary(self):
        return [f"Homogeneous decoder trained for {self.numEpochs.get()} epochs."] + (
            ["Volume: " + self.outputVolume.getFileName()] if hasattr(self, "outputVolume") else [])

    def _methods(self):
        return [f"A homogeneous tomoDRGN decoder ({self.decDim.get()}x{self.decLayers.get()}) was trained for "
                f"{self.numEpochs.get()} epochs [Powell2024]."]


class ProtTomoDrgnTrainVAE(_ProtTomoDrgnTrainBase):
    """Train the tomoDRGN variational auto-encoder: a latent embedding per particle + a generative decoder."""
    _label = "tomoDRGN train VAE"
    _command = "train_vae"
    _possibleOutputs = {"outputModel": TomoDrgnModel, "outputParticles": TomoDrgnParticles}  # or the input's class

    def _defineArchParams(self, form):
        super()._defineArchParams(form)
        form.addParam("zDim", params.IntParam, default=8, label="Latent dimension")
        form.addParam("encDimA", params.IntParam, default=256, label="Encoder A width")
        form.addParam("encLayersA", params.IntParam, default=3, label="Encoder A layers")
        form.addParam("outDimA", params.IntParam, default=128, label="Intermediate encoding size")
        form.addParam("encDimB", params.IntParam, default=256, label="Encoder B width")
        form.addParam("encLayersB", params.IntParam, default=3, label="Encoder B layers")
        form.addParam("pooling", params.EnumParam, choices=POOLING_CHOICES, default=0, label="Pooling over tilts")
        form.addParam("beta", params.FloatParam, allowsNull=True, expertLevel=params.LEVEL_ADVANCED,
                      label="KLD weight (beta)", help="default 1/zdim, scaled by 1/(box^2 ntilts) as the paper")

    def _archArgs(self):
        args = super()._archArgs() + ["--zdim", self.zDim.get(), "--enc-dim-A", self.encDimA.get(),
                                      "--enc-layers-A", self.encLayersA.get(), "--out-dim-A", self.outDimA.get(),
                                      "--enc-dim-B", self.encDimB.get(), "--enc-layers-B", self.encLayersB.get(),
                                      "--pooling-function", POOLING_CHOICES[self.pooling.get()]]
        return args + (["--beta", self.beta.get()] if self.beta.get() is not None else [])

    def createOutputStep(self):
        epoch = self._lastEpoch()
        with open(os.path.join(self._workDir(), f"z.{epoch}.train.pkl"), "rb") as f:
            z = pickle.load(f)
        model = TomoDrgnModel(workDir=os.path.abspath(self._workDir()))
        model.setLastEpoch(epoch)
        model.setZDim(self.zDim.get())
        inp = self.inputParticles.get()
        out = inp.create(self._getPath())  # the input's class: reliontomo sets stay reliontomo sets
        star, source = star_of(inp)
        copy_with_attributes(inp, out, z=z)
        set_star(out, star, source)
        self._defineOutputs(outputModel=model, outputParticles=out)
        self._defineSourceRelation(self.inputParticles, model)
        self._defineSourceRelation(self.inputParticles, out)

    def _summary(self):
        if not hasattr(self, "outputModel"):
            return ["Training not finished yet (progress in the log)."]
        return [f"VAE trained: zdim {self.zDim.get()}, last epoch {self.outputModel.getLastEpoch()}, "
                f"{self.outputParticles.getSize()} particles with latent z."]

    def _methods(self):
        return [f"A tomoDRGN VAE (zdim {self.zDim.get()}) was trained for {self.numEpochs.get()} epochs "
                "[Powell2024], following cryoDRGN [Zhong2021]."]
