"""tomoDRGN validate selection: do the selected particles' images confirm the decoder's map of them?"""
import os

import numpy as np
from pwem.objects import SetOfFSCs, Volume
from pwem.protocols import EMProtocol
from pyworkflow.protocol import params

from .. import Plugin
from ._checks import class_ids, fsc_set, is_classes, read_summary, resolution, rows_and_classes, same_star
from ._gpu import core_env_and_device
from ._run import run_core
from .protocol_analyze import _epoch_errors


class ProtTomoDrgnValidateSelection(EMProtocol):
    """Back-project the selected particles (weighted back-projection, two half sets), generate the decoder's map at
    the selection's mean latent value and at the other particles' mean, and compare: half-map FSC, FSC and CC of
    the back-projection with both decoder maps, and the same margin for a random selection of the same size."""
    _label = "validate selection"
    _possibleOutputs = {"outputVolume": Volume, "outputDecoderVolume": Volume, "outputFSCs": SetOfFSCs}

    def _defineParams(self, form):
        form.addSection(label="Input")
        form.addParam("inputModel", params.PointerParam, pointerClass="TomoDrgnModel", important=True,
                      label="Trained VAE")
        form.addParam("epoch", params.IntParam, default=-1, label="Epoch",
                      help="0-based, as the run's files; -1: the last saved epoch")
        form.addParam("inputSelection", params.PointerParam, important=True, label="Classes or particle subset",
                      pointerClass="SetOfClassesSubTomograms,TomoDrgnParticles,RelionSetOfPseudoSubtomograms",
                      help="the classes of 'tomoDRGN analyze' (choose which below), or a subset of the particles "
                           "this model was trained on (made with Scipion's subset tools)")
        form.addParam("classIds", params.StringParam, default="1", label="Classes to validate",
                      help="with a set of classes: class numbers as shown in Scipion, e.g. '1' or '1 3'")
        form.addParam("randomControl", params.BooleanParam, default=True, label="Random control?",
                      help="the same comparison for a random selection of the same size (one back-projection more)")
        form.addHidden(params.USE_GPU, params.BooleanParam, default=True)
        form.addHidden(params.GPU_LIST, params.StringParam, default="0")

    def _epoch(self):
        return self.inputModel.get().resolveEpoch(self.epoch.get())

    def _insertAllSteps(self):
        choices = (self._epoch(), self.classIds.get(), self.randomControl.get())
        self._insertFunctionStep(self.validateStep, *choices)
        self._insertFunctionStep(self.createOutputStep, *choices)

    def _outDir(self):
        return self._getExtraPath("validate")

    def _selectedRows(self) -> list:
        """STAR rows (= the run's z rows: same STAR, checked in _validate) of the chosen classes or subset."""
        rows = rows_and_classes(self.inputSelection.get())
        if is_classes(self.inputSelection.get()):
            wanted = set(class_ids(self.classIds.get()))
            return sorted(r for r, k in rows.items() if k in wanted)
        return sorted(rows)

    def validateStep(self, *_):
        ind = self._getExtraPath("selected_rows.txt")
        np.savetxt(ind, self._selectedRows(), fmt="%d")
        args = [Plugin.getProgram("validate_selection"), self.inputModel.get().getWorkDir(), self._epoch(),
                "--ind", ind, "-o", self._outDir(), "--force"] + ([] if self.randomControl else ["--no-random-control"])
        env, device = core_env_and_device(self, require=False)
        run_core(self, " ".join(str(a) for a in args + device), env=env)

    def createOutputStep(self, *_):
        s = read_summary(self._outDir())
        apix = s["pixel_size"]

        def volume(name):
            v = Volume(os.path.join(self._outDir(), f"{name}.mrc"))
            v.setSamplingRate(apix)
            return v

        bp = volume("backprojection")
        bp.setHalfMaps([os.path.join(self._outDir(), f"backprojection_half{i}.mrc") for i in (1, 2)])
        dec = volume("decoder_selection")
        fscs = fsc_set(self, s["frequency_per_A"], {
            "selection: half maps": s["fsc_half"]["curve"],
            "selection back-projection vs its decoder map": s["fsc_vs_decoder"]["curve"],
            "selection back-projection vs the rest's decoder map": s["fsc_vs_rest"]["curve"]})
        self._defineOutputs(outputVolume=bp, outputDecoderVolume=dec, outputFSCs=fscs)
        for out in (bp, dec, fscs):
            self._defineSourceRelation(self.inputSelection, out)
        self._defineSourceRelation(self.inputModel, dec)

    def _validate(self):
        model, sel = self.inputModel.get(), self.inputSelection.get()
        if model is None or sel is None:
            return []
        if not same_star(sel, model):
            return [f"These particles do not index the STAR the model was trained on ({model.getTrainingStar()}): "
                    "use the classes of a 'tomoDRGN analyze' run of this model, or a Scipion subset of its particles."]
        if is_classes(sel):
            try:
                wanted = class_ids(self.classIds.get())
            except ValueError:
                return [f"Classes to validate must be class numbers such as '1 3', not '{self.classIds.get()}'."]
            present = sorted({c.getObjId() for c in sel.iterItems()})
            missing = [k for k in wanted if k not in present]
            if not wanted or missing:
                return [f"No class {', '.join(map(str, missing)) or '(none given)'} in this set: its classes are "
                        f"{', '.join(map(str, present))}."]
        return _epoch_errors(model, self.epoch.get())

    def _summary(self):
        try:
            s = read_summary(self._outDir())
        except OSError:
            return ["Validation not finished yet."]
        return [f"{s['n_selected']} of {s['n_particles']} particles: {s['statement']}"]

    def _methods(self):
        try:
            s = read_summary(self._outDir())
        except OSError:
            return []
        return [f"A selection of {s['n_selected']} particles was back-projected (weighted back-projection, two half "
                f"sets; half-map FSC 0.143 at {resolution(s['resolutions']['half_maps_0.143_A'])}) and compared with the "
                f"tomoDRGN decoder's map at the selection's mean latent value (CC {s['cc_vs_decoder']:.3f}; with the "
                f"other particles' map {s['cc_vs_rest']:.3f}) [Powell2024]."]

    def _citations(self):
        return ["Powell2024"]
