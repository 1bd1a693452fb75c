"""tomoDRGN analyze: PCA/UMAP/k-means of the latent space -> class volumes and k-means classes."""
import json
import os

from pwem.objects import SetOfVolumes, Volume
from pwem.protocols import EMProtocol
from pyworkflow.protocol import params
from tomo.objects import SetOfClassesSubTomograms

from .. import Plugin
from ..constants import ATTR_CLASS, ATTR_INDEX, ATTR_Z
from ..convert import copy_with_attributes, read_csv_columns, set_star, star_of
from ..objects import TomoDrgnParticles
from ._gpu import core_env_and_device
from ._run import run_core

AUTO = "auto"
DEFAULT_K_RANGE = (2, 12)  # as the core's analyze --k-range


class ProtTomoDrgnAnalyze(EMProtocol):
    """Cluster a trained VAE's latent space (k-means, optional GMM), generate one volume per cluster centre,
    PCA/UMAP plots, and classify the particles."""
    _label = "analyze latent space"
    _possibleOutputs = {"outputVolumes": SetOfVolumes, "outputClasses": SetOfClassesSubTomograms,
                        "outputParticles": TomoDrgnParticles}

    def _defineParams(self, form):
        form.addSection(label="Input")
        form.addParam("inputModel", params.PointerParam, pointerClass="TomoDrgnModel", important=True,
                      label="Trained VAE")
        form.addParam("inputParticles", params.PointerParam, important=True,
                      pointerClass="TomoDrgnParticles,RelionSetOfPseudoSubtomograms",
                      label="Particles with latent z", help="the 'outputParticles' of the train VAE protocol")
        form.addParam("epoch", params.IntParam, default=-1, label="Epoch",
                      help="0-based, as the run's files (weights.<epoch>.pkl); -1: the last saved epoch")
        form.addParam("ksample", params.StringParam, default=AUTO, label="Number of classes",
                      help="'auto': chosen from the latent space (k-means silhouette, Davies-Bouldin index and "
                           "Gaussian-mixture BIC over the range below; 1 when no cluster structure is found; "
                           "k_selection.png shows the scores), or a number of k-means classes")
        form.addParam("kMin", params.IntParam, default=2, condition=f"str(ksample).strip().lower() == '{AUTO}'",
                      expertLevel=params.LEVEL_ADVANCED, label="Fewest classes tried",
                      help="automatic number of classes: smallest k tried (k = 1 is always tested)")
        form.addParam("kMax", params.IntParam, default=12, condition=f"str(ksample).strip().lower() == '{AUTO}'",
                      expertLevel=params.LEVEL_ADVANCED, label="Most classes tried",
                      help="automatic number of classes: largest k tried (at most the number of particles - 1)")
        form.addParam("skipUmap", params.BooleanParam, default=False, label="Skip UMAP?")
        form.addParam("gmm", params.BooleanParam, default=False, label="Also a Gaussian mixture?")
        form.addParam("flip", params.BooleanParam, default=False, expertLevel=params.LEVEL_ADVANCED,
                      label="Flip hand of volumes?")
        form.addHidden(params.USE_GPU, params.BooleanParam, default=True)
        form.addHidden(params.GPU_LIST, params.StringParam, default="0")

    def _insertAllSteps(self):
        # Continue after changing a choice re-runs both steps (Scipion re-runs the steps whose arguments changed)
        choices = (self._epoch(), self.ksample.get(), self.kMin.get(), self.kMax.get(), self.skipUmap.get(),
                   self.gmm.get(), self.flip.get())
        self._insertFunctionStep(self.analyzeStep, *choices)
        self._insertFunctionStep(self.createOutputStep, *choices)

    def _epoch(self):
        return self.inputModel.get().resolveEpoch(self.epoch.get())

    def _outDir(self):
        return self._getExtraPath(f"analyze.{self._epoch()}")

    def analyzeStep(self, *_):
        k = self._ksample()
        args = [Plugin.getProgram("analyze"), self.inputModel.get().getWorkDir(), self._epoch(), "-o", self._outDir(),
                "--ksample", k] + (self._kRangeArgs() if k == AUTO else [])
        args += (["--skip-umap"] if self.skipUmap else []) + (["--gmm"] if self.gmm else [])
        args += ["--flip"] if self.flip else []
        env, device = core_env_and_device(self, require=False)
        run_core(self, " ".join(str(a) for a in args + device), env=env)

    def _ksample(self):
        """'auto' or the number of classes (ValueError for anything else)."""
        text = str(self.ksample.get() or "").strip().lower()
        return AUTO if text == AUTO else int(text)

    def _kRangeArgs(self) -> list:
        """--k-range when the user changed it (the core's default range also shrinks itself for tiny sets)."""
        lo, hi = self.kMin.get(), self.kMax.get()
        return [] if (lo, hi) == DEFAULT_K_RANGE else ["--k-range", lo, hi]

    def _analysis(self) -> dict:
        """The core's summary.json of this run (ksample: the number of classes used, chosen or given)."""
        with open(os.path.join(self._outDir(), "summary.json")) as f:
            return json.load(f)

    def _kdir(self):
        return os.path.join(self._outDir(), f"kmeans{self._analysis()['ksample']}")

    def createOutputStep(self, *_):
        particles = self.inputParticles.get()
        apix = particles.getSamplingRate()
        vols = SetOfVolumes.create(self._getPath())
        vols.setSamplingRate(apix)
        paths = sorted(f for f in os.listdir(self._kdir()) if f.startswith("vol_") and f.endswith(".mrc"))
        for f in paths:
            v = Volume(os.path.join(self._kdir(), f))
            v.setSamplingRate(apix)
            vols.append(v)
        # particles.csv: one row per particle of the STAR trained on (column 'index'), its k-means 'cluster'
        table = read_csv_columns(os.path.join(self._outDir(), "particles.csv"))
        labels = dict(zip(table["index"].astype(int), table["cluster"].astype(int)))
        labelled = particles.create(self._getPath(), suffix="labelled")  # keeps the input's class
        copy_with_attributes(particles, labelled, labels=labels)
        set_star(labelled, *star_of(particles))
        classes = SetOfClassesSubTomograms.create(self._getPath())
        classes.setImages(labelled)
        vol_paths = [os.path.join(self._kdir(), f) for f in paths]

        def update_item(item, row):
            item.setClassId(getattr(item, ATTR_CLASS).get() + 1)

        def update_class(cls):
            k = cls.getObjId() - 1
            if k < len(vol_paths):
                rep = Volume(vol_paths[k])
                rep.setSamplingRate(apix)
                cls.setRepresentative(rep)

        classes.classifyItems(updateItemCallback=update_item, updateClassCallback=update_class)
        self._defineOutputs(outputVolumes=vols, outputClasses=classes, outputParticles=labelled)
        self._defineSourceRelation(self.inputParticles, classes)
        self._defineSourceRelation(self.inputParticles, labelled)
        self._defineSourceRelation(self.inputModel, vols)

    def _validate(self):
        particles, model = self.inputParticles.get(), self.inputModel.get()
        n = particles.getSize() if particles is not None else None
        try:
            k = self._ksample()
        except ValueError:
            return [f"Number of classes must be 'auto' or a whole number, not '{self.ksample.get()}'."]
        if k == AUTO:
            lo, hi = self.kMin.get(), self.kMax.get()
            if self._kRangeArgs() and (lo is None or hi is None or lo < 1 or hi < max(lo, 2) or (n and hi > n - 1)):
                return [f"Classes tried must go from at least 2 to at most the number of particles - 1 ({n and n - 1})"
                        f", not {lo} to {hi}."]
        elif k < 1 or (n and k > n):
            return [f"k-means classes must be between 1 and the number of particles ({n}), not {k}."]
        if particles is None or model is None:
            return []
        if getattr(particles.getFirstItem(), ATTR_Z, None) is None:
            return ["These particles carry no latent z: use the 'outputParticles' of the train VAE run."]
        trained = model.getTrainingStar()
        if trained and os.path.realpath(trained) != os.path.realpath(star_of(particles)[0]):
            return [f"These particles come from another run: the VAE was trained on {trained}; use its "
                    "'outputParticles'."]
        return _epoch_errors(model, self.epoch.get())

    def _summary(self):
        if not hasattr(self, "outputClasses"):
            return ["Analysis not finished yet."]
        sizes = [c.getSize() for c in self.outputClasses.iterItems()]
        chosen = self._analysis().get("k_selection")
        return [f"epoch {self._epoch()}: {len(sizes)} k-means classes, sizes {sizes}"] + \
            ([f"number of classes chosen automatically: {chosen['reason']}"] if chosen else []) + \
            [f"plots and particles.csv in {self._outDir()}"]

    def _methods(self):
        if not hasattr(self, "outputClasses"):
            return []
        chosen = self._analysis().get("k_selection")
        how = (f"its number of classes chosen by k-means silhouette, Davies-Bouldin index and Gaussian-mixture BIC "
               f"(k={chosen['k']}; {chosen['structure']} structure)" if chosen else f"k={self._ksample()}")
        return [f"The latent space was clustered with k-means ({how}) and one volume generated at the particle "
                "nearest each centre [Powell2024]."]

    def _citations(self):
        return ["Powell2024"]


def _epoch_errors(model, epoch) -> list:
    """An epoch the run did not save, named with the ones it did (shared with generate volumes)."""
    saved = model.savedEpochs()
    if epoch is not None and epoch >= 0 and saved and epoch not in saved:
        return [f"Epoch {epoch} was not saved; saved epochs (0-based): {', '.join(map(str, saved))}, or -1 for "
                "the last."]
    return []
