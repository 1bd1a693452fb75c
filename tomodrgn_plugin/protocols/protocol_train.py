"""tomoDRGN train homogeneous / train VAE: run the core trainer, register a Volume or a model + latent z."""
import os

import numpy as np
from pwem.objects import Volume
from pwem.protocols import EMProtocol
from pyworkflow.protocol import params
from tomodrgn_core.runfiles import WEIGHTS, epochs_with

from .. import Plugin
from ..constants import POOLING_CHOICES, TRAIN_DIR
from ..convert import copy_with_attributes, set_star, star_of, star_rows
from ..objects import TomoDrgnModel, TomoDrgnParticles
from ._gpu import core_env_and_device
from ._run import run_core, set_names


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
        form.addParam("numEpochs", params.IntParam, default=20, label="Epochs",
                      help="passes over all particles (numbered from 0 in the outputs). To train longer, raise this "
                           "and press Continue: training resumes from the last saved epoch.")
        form.addParam("batchSize", params.IntParam, default=8, label="Batch size (particles)")
        form.addParam("learningRate", params.FloatParam, default=2e-4, expertLevel=params.LEVEL_ADVANCED,
                      label="Learning rate (batch 1)",
                      help="the rate at batch size 1; training scales it by sqrt(batch size), as the reference")
        form.addParam("lrSchedule", params.EnumParam, choices=self.LR_SCHEDULES,
                      default=self.LR_SCHEDULES.index(self._lrSchedule), expertLevel=params.LEVEL_ADVANCED,
                      label="Learning rate schedule",
                      help="cosine: decay to 1% of the learning rate at the last epoch, so the model settles on "
                           "the data instead of jittering on the noise (better maps from train homogeneous)")
        form.addParam("sampleNtilts", params.IntParam, allowsNull=True, expertLevel=params.LEVEL_ADVANCED,
                      label="Tilts sampled per particle", help="default: the fewest tilts of any particle")
        form.addParam("invertData", params.BooleanParam, default=True, label="Invert data sign?",
                      help="Yes for Warp/RELION stacks (white protein)")
        form.addParam("doseMask", params.BooleanParam, default=True, label="Dose lattice mask?",
                      help="skip Fourier components beyond the optimal exposure of each tilt (their signal is gone)")
        form.addParam("doseWeight", params.BooleanParam, default=True, label="Dose weighting?",
                      help="weigh the loss by each tilt's exposure attenuation")
        form.addParam("tiltWeight", params.BooleanParam, default=True, label="Tilt weighting?",
                      help="weigh the loss by cos(tilt): thicker ice at high tilt")
        form.addParam("checkpoint", params.IntParam, default=1, label="Checkpoint every N epochs",
                      help="weights (and latent z) are saved every N epochs and at the last one")
        form.addParam("seed", params.IntParam, default=0, expertLevel=params.LEVEL_ADVANCED, label="Seed")
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
        inp = self.inputParticles.get()
        self._insertFunctionStep(self.convertInputStep, inp.getObjId(), inp.getSize())
        # the steps' arguments are the training settings: Continue after raising the epochs (or changing anything
        # else) re-runs training and the outputs (Scipion re-runs only the steps whose arguments changed); an
        # unchanged, finished run is left as it is
        args = self._args()
        self._insertFunctionStep(self.trainStep, args)
        self._insertFunctionStep(self.createOutputStep, args)

    def _workDir(self):
        return self._getExtraPath(TRAIN_DIR)

    def _inputStar(self) -> str:
        """The STAR this run trains on: exactly the input set's particles (see convertInputStep)."""
        source = star_of(self.inputParticles.get())[1]
        return self._getExtraPath("input_optimisation_set.star" if source == "relion5" else "input_particles.star")

    def convertInputStep(self, *_):
        """Write the STAR of exactly this set's particles. A set made with Scipion's own subset tools keeps the
        STAR of the full set: training on that STAR would train on every particle."""
        inp = self.inputParticles.get()
        star, source = star_of(inp)
        rows = self._getExtraPath("input_rows.txt")
        np.savetxt(rows, star_rows(inp, set_names(self, inp)), fmt="%d")
        run_core(self, f'{Plugin.getProgram("filter_star")} "{star}" --source-software {source} '
                       f'--ind "{rows}" -o "{self._inputStar()}" --overwrite')

    def _archArgs(self):
        return ["--dec-dim", self.decDim.get(), "--dec-layers", self.decLayers.get()]

    def _args(self):
        source = star_of(self.inputParticles.get())[1]
        args = [Plugin.getProgram(self._command), f'"{self._inputStar()}"', "--source-software", source,
                "-o", self._workDir(),
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
        device = core_env_and_device(self, multi=True)[1]
        return " ".join(str(a) for a in args + device) + " " + self.extraParams.get("")

    def trainStep(self, args):
        # Restart empties the run folder; Continue (Scipion's resume) goes on from the last saved epoch
        if self._savedEpochs():
            args += " --load latest"
        run_core(self, args, env=core_env_and_device(self, multi=True)[0])

    def _savedEpochs(self) -> list:
        return epochs_with(self._workDir(), WEIGHTS)

    def _lastEpoch(self) -> int:
        return max(self._savedEpochs())

    def _validate(self):
        errors = []
        particles = self.inputParticles.get()
        if particles is not None and star_of(particles)[0] is None:
            errors.append("The input particles carry no tomoDRGN/RELION 5 STAR: import them with "
                          "'tomoDRGN import particles' first.")
        for name, label in (("numEpochs", "Epochs"), ("batchSize", "Batch size"), ("checkpoint", "Checkpoint every"),
                            ("decDim", "Decoder width"), ("decLayers", "Decoder layers"), ("zDim", "Latent dimension"),
                            ("numberOfThreads", "Threads")):
            value = getattr(self, name, None)
            if value is not None and value.get() is not None and value.get() < 1:
                errors.append(f"{label} must be at least 1, not {value.get()}.")
        if self.sampleNtilts.get() is not None and self.sampleNtilts.get() < 1:
            errors.append(f"Tilts sampled per particle must be at least 1, not {self.sampleNtilts.get()}.")
        return errors

    def _citations(self):
        return ["Powell2024", "Zhong2021"]


class ProtTomoDrgnTrainHomogeneous(_ProtTomoDrgnTrainBase):
    """Train a homogeneous tomoDRGN decoder (no latent space): a neural reconstruction of all particles."""
    _label = "train homogeneous"
    _command = "train_nn"
    _decDim = 512
    _lrSchedule = "cosine"
    _possibleOutputs = {"outputVolume": Volume}

    def createOutputStep(self, *_):
        vol = Volume()
        vol.setFileName(os.path.join(self._workDir(), "reconstruct.mrc"))
        vol.setSamplingRate(self.inputParticles.get().getSamplingRate())
        self._defineOutputs(outputVolume=vol)
        self._defineSourceRelation(self.inputParticles, vol)

    def _summary(self):
        if not hasattr(self, "outputVolume"):
            return ["Training not finished yet (progress in the log)."]
        return [f"Homogeneous decoder trained for {self.numEpochs.get()} epochs.",
                "Volume: " + self.outputVolume.getFileName()]

    def _methods(self):
        return [f"A homogeneous tomoDRGN decoder ({self.decDim.get()}x{self.decLayers.get()}) was trained for "
                f"{self.numEpochs.get()} epochs [Powell2024]."]


class ProtTomoDrgnTrainVAE(_ProtTomoDrgnTrainBase):
    """Train the tomoDRGN variational auto-encoder: a latent embedding per particle + a generative decoder."""
    _label = "train VAE"
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

    def createOutputStep(self, *_):
        epoch = self._lastEpoch()
        z = np.load(os.path.join(self._workDir(), f"z.{epoch}.train.npz"))["mu"]  # plain numpy, any version
        model = TomoDrgnModel(workDir=os.path.abspath(self._workDir()))
        model.setLastEpoch(epoch)
        model.setZDim(self.zDim.get())
        inp = self.inputParticles.get()
        out = inp.create(self._getPath())  # the input's class: reliontomo sets stay reliontomo sets
        # z rows follow the STAR trained on (the set's particles, in input order): items are renumbered to it
        copy_with_attributes(inp, out, z=z, keep=np.loadtxt(self._getExtraPath("input_rows.txt"), ndmin=1).astype(int),
                             names=set_names(self, inp))
        set_star(out, os.path.abspath(self._inputStar()), star_of(inp)[1])
        if hasattr(out, "setNReParticles"):  # reliontomo's own particle count
            out.setNReParticles(out.getSize())
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
