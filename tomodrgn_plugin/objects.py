"""Plugin objects: particle sets that remember their tomoDRGN STAR, and a trained model."""
import pyworkflow.object as pwobj
from pwem.objects import EMObject
from tomo.objects import SetOfSubTomograms


class TomoDrgnParticles(SetOfSubTomograms):
    """Particles backed by an image-series STAR (Warp/M) or a RELION 5 optimisation set.

    Items carry ``_tomodrgnIndex`` (their particle row in that STAR) and, after training/analysis,
    ``_tomodrgnZ`` (latent mean, comma-separated) and ``_tomodrgnClass``.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._starFile = pwobj.String()
        self._sourceSoftware = pwobj.String("auto")

    def getStarFile(self) -> str:
        return self._starFile.get()

    def setStarFile(self, path) -> None:
        self._starFile.set(str(path))

    def getSourceSoftware(self) -> str:
        return self._sourceSoftware.get()

    def setSourceSoftware(self, value) -> None:
        self._sourceSoftware.set(value)


class TomoDrgnModel(EMObject):
    """A trained tomoDRGN run: its folder holds config.yaml, weights.{epoch}.pkl and z.{epoch}.train.pkl."""

    def __init__(self, workDir=None, **kwargs):
        super().__init__(**kwargs)
        self._workDir = pwobj.String(workDir)
        self._lastEpoch = pwobj.Integer()
        self._zDim = pwobj.Integer(0)

    def getWorkDir(self) -> str:
        return self._workDir.get()

    def getLastEpoch(self) -> int:
        return self._lastEpoch.get()

    def setLastEpoch(self, e: int) -> None:
        self._lastEpoch.set(e)

    def resolveEpoch(self, epoch) -> int:
        """The epoch a protocol asked for; None or negative means the last saved one."""
        return self.getLastEpoch() if epoch is None or epoch < 0 else epoch

    def savedEpochs(self) -> list:
        """Epochs with saved weights in the run folder (0-based, as in the file names)."""
        from tomodrgn_core.runfiles import WEIGHTS, epochs_with
        return epochs_with(self.getWorkDir(), WEIGHTS)

    def getTrainingStar(self):
        """The STAR the model was trained on (from the run's config.yaml), or None."""
        import os
        import yaml
        path = os.path.join(self.getWorkDir(), "config.yaml")
        if not os.path.isfile(path):
            return None
        with open(path) as f:
            return ((yaml.safe_load(f) or {}).get("dataset") or {}).get("particles")

    def getZDim(self) -> int:
        return self._zDim.get()

    def setZDim(self, z: int) -> None:
        self._zDim.set(z)

    def __str__(self):
        return f"tomoDRGN model (zdim {self.getZDim()}, last epoch {self.getLastEpoch()})"
