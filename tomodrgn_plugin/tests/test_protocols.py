"""Protocol tests: a real pyworkflow project, the real protocols, simulated data made here (no downloads).

Run with `python -m scipion tests tomodrgn_plugin.tests` (or pytest). Nothing of the core is imported here: the
core runs in its own Python (tests/_core.py), as in a user's Scipion."""
import os
from pathlib import Path

import numpy as np
import yaml
from pyworkflow.tests import BaseTest, setupTestProject

from tomodrgn_plugin.constants import ATTR_CLASS, ATTR_INDEX, ATTR_Z
from tomodrgn_plugin.convert import parse_z
from tomodrgn_plugin.tests._core import core_eval, simulate, star_locations
from tomodrgn_plugin.protocols import (ProtTomoDrgnAnalyze, ProtTomoDrgnGenerateVolumes, ProtTomoDrgnImportParticles,
                                       ProtTomoDrgnSubsetExport, ProtTomoDrgnTrainHomogeneous, ProtTomoDrgnTrainVAE)

FIXTURE = (Path(__file__).resolve().parents[2] / "tests" / "data" / "relion5_warptools_small"
           / "warptools_test_4-tomos_10-ptcls_box-32_angpix-12_optimisation_set.star")
FAST = dict(batchSize=8, decDim=128, learningRate=3.54e-4, sampleNtilts=10, useGpu=False, numberOfThreads=1)
FAST_VAE = dict(zDim=2, encDimA=64, encLayersA=2, outDimA=64, encDimB=32, encLayersB=4, **FAST)
TINY_VAE = dict(zDim=2, encDimA=16, encLayersA=1, outDimA=8, encDimB=16, encLayersB=1, decDim=16, decLayers=1,
                batchSize=8, learningRate=3.54e-4, useGpu=False, numberOfThreads=1)


N_PARTICLES = "from tomodrgn_core.io import load_particles\nresult = load_particles(star).n_particles"
CHECK_VOLUMES = """
from tomodrgn_core.analysis.metrics import map_cc, reference_weights
from tomodrgn_core.io import read_volume
gts = [read_volume(p)[0] for p in truth]
result = {"cc_mean": map_cc(read_volume(vol)[0], 0.5 * (gts[0] + gts[1])) if vol else None,
          "weights": [reference_weights(read_volume(r)[0], gts).tolist() for r in reps]}
"""


def item_locations(particles) -> dict:
    """{_tomodrgnIndex: location} of a set's items."""
    return {getattr(p, ATTR_INDEX).get(): tuple(p.getLocation()) for p in particles}


class TestTomoDrgnProtocols(BaseTest):
    @classmethod
    def setUpClass(cls):
        setupTestProject(cls)
        cls.sim = simulate(cls.getOutputPath("simulated"), n_particles=120, box=32, n_classes=2, snr=0.5, seed=0,
                           max_tilt=45, layout="both")

    def _import(self, star, label):
        prot = self.newProtocol(ProtTomoDrgnImportParticles, starFile=str(star), objLabel=label)
        self.launchProtocol(prot)
        return prot.outputParticles

    def test_scipion_subsets_train_and_export_their_own_particles(self):
        """A set cut by Scipion's own tools keeps the STAR of the full set: training must use only its
        particles, and every set written after that must index its own STAR."""
        from pwem.protocols import ProtSplitSet
        from tomodrgn_plugin.protocols._gpu import core_env_and_device

        parts = self._import(self.sim["warp"], "to split")
        split = self.newProtocol(ProtSplitSet, inputSet=parts, numberOfSets=2, randomize=True)
        self.launchProtocol(split)
        half = split.outputTomoDrgnParticles01
        half_locations = item_locations(half)
        self.assertEqual(len(half_locations), 60)
        self.assertNotEqual(sorted(half_locations), list(range(60)))  # a scattered half of the 120 rows
        vae = self.newProtocol(ProtTomoDrgnTrainVAE, inputParticles=half, numEpochs=1, checkpoint=1, **TINY_VAE)
        self.launchProtocol(vae)
        cfg = yaml.safe_load(open(vae._getExtraPath("train", "config.yaml")))
        self.assertEqual(cfg["dataset"]["n_particles"], 60)  # the half, not the full STAR
        out = vae.outputParticles
        locations = item_locations(out)
        self.assertEqual(locations, star_locations(out.getStarFile()))
        self.assertEqual(sorted(locations.values()), sorted(half_locations.values()))
        z = np.load(vae._getExtraPath("train", "z.0.train.npz"))["mu"]
        for p in out:
            np.testing.assert_allclose(parse_z(getattr(p, ATTR_Z).get()), z[getattr(p, ATTR_INDEX).get()], atol=1e-5)

        # Continue after raising the epochs: training resumes from the saved epoch, not from scratch
        vae.numEpochs.set(2)
        self.launchProtocol(vae)
        self.assertEqual(vae.outputModel.getLastEpoch(), 1)
        log = open(vae._getExtraPath("train", "run.log")).read()
        self.assertIn("resumed from", log)
        self.assertEqual(log.count("epoch 0:"), 1)  # epoch 0 was trained once

        sub = self.newProtocol(ProtTomoDrgnSubsetExport, inputParticles=out, selectBy=1, indices="0 2 5")
        self.launchProtocol(sub)
        got = item_locations(sub.outputParticles)
        self.assertEqual(got, star_locations(sub.outputParticles.getStarFile()))
        self.assertEqual(sorted(got.values()), sorted(locations[i] for i in (0, 2, 5)))

        # GPU IDs as Scipion writes them: ranges and lists reach the core as one CUDA_VISIBLE_DEVICES list
        for ids, visible in (("0-1", "0,1"), ("0, 2", "0,2"), ("3", "3")):
            gpu = self.newProtocol(ProtTomoDrgnTrainVAE, inputParticles=parts, useGpu=True, gpuList=ids)
            env, device = core_env_and_device(gpu, multi=True)
            self.assertEqual(env["CUDA_VISIBLE_DEVICES"], visible)
            self.assertEqual(device, ["--device", "cuda"] + (["--multigpu"] if "," in visible else []))

    def test_import_with_stacks_folder(self):
        """STAR in one folder, stacks in another: the imported set's STAR must find them on its own."""
        import shutil

        alone = Path(self.getOutputPath("star_alone"))
        alone.mkdir(exist_ok=True)
        star = alone / "particles.star"
        shutil.copyfile(self.sim["warp"], star)  # its stack names are relative: not found from here
        prot = self.newProtocol(ProtTomoDrgnImportParticles, starFile=str(star),
                                dataDir=str(Path(self.sim["warp"]).parent))
        self.launchProtocol(prot)
        parts = prot.outputParticles
        self.assertEqual(parts.getSize(), 120)
        self.assertNotEqual(parts.getStarFile(), str(star))  # the run's own copy, stacks by absolute path
        self.assertEqual(core_eval(N_PARTICLES, star=parts.getStarFile()), 120)  # no stacks folder needed
        self.assertEqual(item_locations(parts), star_locations(parts.getStarFile()))

    def test_import_relion5_fixture(self):
        parts = self._import(FIXTURE, "fixture")
        self.assertEqual(parts.getSize(), 40)
        self.assertEqual(parts.getSourceSoftware(), "relion5")
        self.assertAlmostEqual(parts.getSamplingRate(), 12.0)
        first = parts.getFirstItem()
        self.assertEqual(getattr(first, ATTR_INDEX).get(), 0)
        self.assertTrue(first.getCoordinate3D().getTomoId().startswith("Unt_"))

    def test_chain_import_train_analyze_subset(self):
        truth = np.load(self.sim["labels"])
        gts = [str(p) for p in self.sim["volumes"]]
        parts = self._import(self.sim["warp"], "simulated warp")
        self.assertEqual(parts.getSize(), 120)
        r5 = self._import(self.sim["relion5"], "simulated relion5")
        self.assertEqual((r5.getSize(), r5.getSourceSoftware()), (120, "relion5"))

        # "GPU step: CUDA graphs" on a CPU host: the flag reaches train_nn, which says so and trains eagerly
        nn = self.newProtocol(ProtTomoDrgnTrainHomogeneous, inputParticles=parts, numEpochs=6, checkpoint=3,
                              stepMode=list(ProtTomoDrgnTrainHomogeneous.STEP_MODES).index("CUDA graphs"), **FAST)
        self.launchProtocol(nn)
        self.assertGreater(core_eval(CHECK_VOLUMES, vol=nn.outputVolume.getFileName(), truth=gts, reps=[])["cc_mean"],
                           0.8)
        cfg = yaml.safe_load(open(nn._getExtraPath("train", "config.yaml")))
        self.assertEqual(cfg["training"]["lr_schedule"], "cosine")  # the homogeneous protocol's default
        self.assertTrue(cfg["args"]["cuda_graph"])
        self.assertIn("--cuda-graph needs a CUDA device, not cpu", open(nn._getExtraPath("train", "run.log")).read())

        vae = self.newProtocol(ProtTomoDrgnTrainVAE, inputParticles=parts, numEpochs=20, checkpoint=5, **FAST_VAE)
        self.launchProtocol(vae)
        self.assertEqual(vae.outputModel.getLastEpoch(), 19)
        zs = {getattr(p, ATTR_INDEX).get(): parse_z(getattr(p, ATTR_Z).get()) for p in vae.outputParticles}
        self.assertEqual(len(zs), 120)
        self.assertEqual(len(zs[0]), 2)
        wrong = self.newProtocol(ProtTomoDrgnAnalyze, inputModel=vae.outputModel, inputParticles=parts, ksample=2)
        self.assertIn("carry no latent z", " ".join(wrong.validate()))
        wrong = self.newProtocol(ProtTomoDrgnAnalyze, inputModel=vae.outputModel,
                                 inputParticles=vae.outputParticles, ksample=2, epoch=7)
        self.assertIn("Epoch 7 was not saved; saved epochs (0-based): 4, 9, 14, 19", " ".join(wrong.validate()))
        for text, expected in (("0 0 0", "needs 2 numbers"), ("0 x", "line 1 of the latent values is not numbers"),
                               ("0 0\n1", "different lengths")):
            gen = self.newProtocol(ProtTomoDrgnGenerateVolumes, inputModel=vae.outputModel, zValues=text)
            self.assertIn(expected, " ".join(gen.validate()))

        an = self.newProtocol(ProtTomoDrgnAnalyze, inputModel=vae.outputModel, inputParticles=vae.outputParticles,
                              ksample=121, skipUmap=True, useGpu=False)
        self.assertIn("between 1 and the number of particles (120), not 121", " ".join(an.validate()))
        an.ksample.set(2)
        self.assertEqual(an.validate(), [])
        self.launchProtocol(an)
        self.assertEqual(an.outputVolumes.getSize(), 2)
        self.assertEqual(an.outputClasses.getSize(), 2)
        labels = {getattr(p, ATTR_INDEX).get(): getattr(p, ATTR_CLASS).get() for p in an.outputParticles}
        pred = np.array([labels[i] for i in range(120)])
        ari = core_eval("from tomodrgn_core.analysis.metrics import adjusted_rand_index\n"
                        "result = adjusted_rand_index(np.array(a), np.array(b))", a=truth.tolist(), b=pred.tolist())
        self.assertGreaterEqual(ari, 0.9)  # the two simulated classes recovered
        reps, owners = [], []
        for cls in an.outputClasses:
            reps.append(cls.getRepresentative().getFileName())
            members = [getattr(p, ATTR_INDEX).get() for p in cls]
            owners.append(int(np.bincount(truth[members]).argmax()))
        # the classes share most density: weigh, don't just correlate
        weights = core_eval(CHECK_VOLUMES, vol=None, truth=gts, reps=reps)["weights"]
        for w, own in zip(weights, owners):
            self.assertGreater(w[own], w[1 - own])

        from tomodrgn_plugin.viewers.viewer_latent import latent_figure
        fig = latent_figure(os.path.join(an._outDir(), "particles.csv"))
        xlabel = fig.axes[0].get_xlabel()  # PC1 with its share of the variance, as in analyze's PNGs
        self.assertRegex(xlabel, r"^PC1 \(\d+\.\d%\)$")
        self.assertGreater(float(xlabel[5:-2]), 50.0)  # two classes: PC1 carries most of the variance

        # as the latent viewer does when the user picks class 1: a saved, pre-filled protocol
        from tomodrgn_plugin.viewers import create_subset_protocol
        sub = create_subset_protocol(self.proj, an, [1])
        self.assertEqual(sub.classIds.get(), "1")
        self.assertEqual(sub.inputParticles.get().getObjId(), an.outputParticles.getObjId())
        self.launchProtocol(sub)
        expected = sorted(i for i, k in labels.items() if k == 0)
        got = item_locations(sub.outputParticles)
        self.assertEqual(sorted(got), list(range(len(expected))))  # renumbered to the rows of the new STAR...
        self.assertEqual(got, star_locations(sub.outputParticles.getStarFile()))  # ...which hold those particles
        before = item_locations(an.outputParticles)
        self.assertEqual(sorted(got.values()), sorted(before[i] for i in expected))
        self.assertEqual(type(sub.outputParticles), type(an.outputParticles))
        # a lasso region on the PCA scatter, as drawn in the latent viewer: a polygon around class 2's points
        from tomodrgn_plugin.convert import read_csv_columns
        from tomodrgn_plugin.viewers.selection import rows_in_classes, rows_in_region
        csv = os.path.join(an._outDir(), "particles.csv")
        t = read_csv_columns(csv)
        pts = np.column_stack([t["PC1"], t["PC2"]])[t["cluster"] == 1]
        lo, hi = pts.min(0) - 1e-6, pts.max(0) + 1e-6
        region = [(lo[0], lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (lo[0], hi[1])]
        rows = rows_in_region(csv, region, "PCA")
        self.assertTrue(set(rows_in_classes(csv, [2])) <= set(rows))  # the box holds the whole class...
        self.assertGreater(len(rows), 0)
        lasso = create_subset_protocol(self.proj, an, rows=rows)
        self.assertEqual(lasso.selectBy.get(), 1)
        self.launchProtocol(lasso)
        got = item_locations(lasso.outputParticles)  # ...and the subset exactly the particles in the region
        self.assertEqual(sorted(got.values()), sorted(before[i] for i in rows))
        self.assertEqual(got, star_locations(lasso.outputParticles.getStarFile()))

        missing = self.newProtocol(ProtTomoDrgnSubsetExport, inputParticles=an.outputParticles, classIds="1 7")
        self.assertIn("No class 7 in these particles: their classes are 1, 2", " ".join(missing.validate()))
        reread = core_eval("from tomodrgn_core.io import load_particles\nps = load_particles(star)\n"
                           "result = [ps.n_particles, int(ps.ntilts.sum())]", star=sub.outputParticles.getStarFile())
        self.assertEqual(reread, [len(expected), 31 * len(expected)])

        gen = self.newProtocol(ProtTomoDrgnGenerateVolumes, inputModel=vae.outputModel, zValues="0 0\n1 1")
        self.launchProtocol(gen)
        self.assertEqual(gen.outputVolumes.getSize(), 2)
        # a failure the form cannot foresee: the run's error is the core's own line, not just "exit status 2"
        bad = self.newProtocol(ProtTomoDrgnGenerateVolumes, inputModel=vae.outputModel, mode=2, anchors="0 999")
        self.proj.launchProtocol(bad, wait=True)
        self.assertTrue(bad.isFailed())
        self.assertIn("anchor 999 is not a particle index (0..119) -> fix:", bad.getErrorMessage())
