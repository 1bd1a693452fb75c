"""Protocol tests of the result checks: automatic number of classes, compare runs, validate selection, spatial
statistics, on a simulated two-class set whose class 1 sits in clusters in its tomograms (made here, no downloads).

Run with `python -m scipion tests tomodrgn_plugin.tests.test_analyses` (or pytest)."""
import json
import os

import numpy as np
import pandas as pd
from pyworkflow.tests import BaseTest, setupTestProject
from tomo import constants as tconst

from tomodrgn_plugin.constants import ATTR_CLASS, ATTR_INDEX
from tomodrgn_plugin.protocols import (ProtTomoDrgnAnalyze, ProtTomoDrgnCompareRuns, ProtTomoDrgnImportParticles,
                                       ProtTomoDrgnSpatialStats, ProtTomoDrgnTrainVAE, ProtTomoDrgnValidateSelection)

FAST_VAE = dict(zDim=2, encDimA=64, encLayersA=2, outDimA=64, encDimB=32, encLayersB=4, batchSize=8, decDim=128,
                learningRate=3.54e-4, sampleNtilts=10, useGpu=False, numberOfThreads=1)


class TestTomoDrgnResultChecks(BaseTest):
    @classmethod
    def setUpClass(cls):
        from tomodrgn_core.simulate import simulate_dataset
        setupTestProject(cls)
        cls.sim = simulate_dataset(cls.getOutputPath("simulated"), n_particles=120, box=32, n_classes=2, snr=0.5,
                                   seed=0, max_tilt=45, clustered_class=1, overwrite=True)

    def test_checks_from_a_trained_run(self):
        from tomodrgn_core.analysis.metrics import adjusted_rand_index
        from tomodrgn_plugin.viewers.viewer_checks import (compare_figure, k_selection_figure, spatial_figure,
                                                           validate_figure)

        truth = np.load(self.sim["labels"])
        imp = self.newProtocol(ProtTomoDrgnImportParticles, starFile=str(self.sim["warp"]))
        self.launchProtocol(imp)
        vae = self.newProtocol(ProtTomoDrgnTrainVAE, inputParticles=imp.outputParticles, numEpochs=15, checkpoint=5,
                               **FAST_VAE)
        self.launchProtocol(vae)

        # 1. the analyze protocol's default: the number of classes is chosen from the latent space
        an = self.newProtocol(ProtTomoDrgnAnalyze, inputModel=vae.outputModel, inputParticles=vae.outputParticles,
                              skipUmap=True, useGpu=False)
        self.assertEqual(an.ksample.get(), "auto")
        an.kMax.set(200)
        self.assertIn("Classes tried must go from at least 2 to at most the number of particles - 1 (119)",
                      " ".join(an.validate()))
        an.kMax.set(12)
        self.launchProtocol(an)
        self.assertEqual(an.outputClasses.getSize(), 2)  # two simulated classes, found without being told
        labels = {getattr(p, ATTR_INDEX).get(): getattr(p, ATTR_CLASS).get() for p in an.outputParticles}
        self.assertGreaterEqual(adjusted_rand_index(truth, [labels[i] for i in range(120)]), 0.9)
        self.assertIn("number of classes chosen automatically: k = 2", " ".join(an.summary()))
        self.assertTrue(os.path.isfile(os.path.join(an._outDir(), "k_selection.png")))
        k_selection_figure(an)

        # 2. a run against itself: every particle keeps its class, the class volumes are identical
        cmp = self.newProtocol(ProtTomoDrgnCompareRuns, inputModelA=vae.outputModel, inputModelB=vae.outputModel,
                               epochB=14, ksample="two", useGpu=False)
        self.assertIn("'auto' or a whole number", " ".join(cmp.validate()))
        cmp.ksample.set("auto")
        self.launchProtocol(cmp)
        s = json.load(open(os.path.join(cmp._outDir(), "summary.json")))
        self.assertEqual((s["ari"], s["agreement"], s["k_a"]), (1.0, 1.0, 2))
        self.assertEqual(cmp.outputFSCs.getSize(), 2)
        for fsc in cmp.outputFSCs:
            x, y = fsc.getData()
            np.testing.assert_allclose([float(v) for v in x], s["fsc_frequency_per_A"], rtol=1e-6)
            self.assertGreater(min(float(v) for v in y), 0.999)
        self.assertIn("ARI 1.000, 100.0% keep their class", " ".join(cmp.summary()))
        compare_figure(cmp)

        # 3. validate class 1 (as Scipion numbers it) from the analyze classes, and a random half from a subset
        bad = self.newProtocol(ProtTomoDrgnValidateSelection, inputModel=vae.outputModel,
                               inputSelection=an.outputClasses, classIds="7")
        self.assertIn("No class 7 in this set: its classes are 1, 2", " ".join(bad.validate()))
        val = self.newProtocol(ProtTomoDrgnValidateSelection, inputModel=vae.outputModel,
                               inputSelection=an.outputClasses, classIds="1", useGpu=False)
        self.launchProtocol(val)
        chosen = np.loadtxt(val._getExtraPath("selected_rows.txt"), dtype=int)
        self.assertEqual(chosen.tolist(), sorted(i for i, k in labels.items() if k == 0))
        v = json.load(open(os.path.join(val._outDir(), "summary.json")))
        self.assertGreater(v["cc_margin"], 0.01)  # class 1's images match its own decoder map better
        self.assertLess(abs(v["random_control"]["cc_margin"]), 0.2 * v["cc_margin"])
        half1, half2 = val.outputVolume.getHalfMaps().split(",")
        self.assertTrue(os.path.isfile(half1) and os.path.isfile(half2))
        self.assertAlmostEqual(val.outputVolume.getSamplingRate(), 8.0)
        self.assertEqual(val.outputFSCs.getSize(), 3)
        validate_figure(val)

        from pwem.protocols import ProtSplitSet
        split = self.newProtocol(ProtSplitSet, inputSet=an.outputParticles, numberOfSets=2, randomize=True)
        self.launchProtocol(split)
        half = split.outputTomoDrgnParticles01
        rnd = self.newProtocol(ProtTomoDrgnValidateSelection, inputModel=vae.outputModel, inputSelection=half,
                               randomControl=False, useGpu=False)
        self.launchProtocol(rnd)
        r = json.load(open(os.path.join(rnd._outDir(), "summary.json")))
        self.assertEqual(r["n_selected"], half.getSize())
        self.assertLess(abs(r["cc_margin"]), 0.2 * v["cc_margin"])  # a random half: no better than the rest

        # 4. where the classes sit: the class of the clustered particles is clustered, distances as computed here
        sp = self.newProtocol(ProtTomoDrgnSpatialStats, inputSelection=an.outputClasses, nShuffles=200)
        self.launchProtocol(sp)
        table = pd.read_csv(os.path.join(sp._outDir(), "clustering.csv")).set_index("class")
        clustered_class = 1 + int(np.bincount([labels[i] for i in np.flatnonzero(truth == 1)]).argmax())
        self.assertEqual(table.loc[clustered_class, "verdict"], "clustered")
        self.assertNotEqual(table.loc[3 - clustered_class, "verdict"], "clustered")
        nb = pd.read_csv(os.path.join(sp._outDir(), "neighbours.csv")).set_index("particle")
        apix = an.outputParticles.getSamplingRate()
        pos = {getattr(p, ATTR_INDEX).get(): (p.getCoordinate3D().getTomoId(),
                                              np.array(p.getCoordinate3D().getPosition(tconst.SCIPION)) * apix)
               for p in an.outputParticles}
        for i in (0, 17, 63):  # nearest neighbour from Scipion's own coordinates, by brute force
            d = min(np.linalg.norm(xyz - pos[i][1]) for j, (t, xyz) in pos.items() if j != i and t == pos[i][0])
            self.assertAlmostEqual(nb.loc[i, "nn_distance_A"], d, delta=1e-3 * d)
        self.assertEqual(nb["label"].to_dict(), {i: k + 1 for i, k in labels.items()})  # classes as Scipion shows
        spatial_figure(sp)

        sp2 = self.newProtocol(ProtTomoDrgnSpatialStats, inputSelection=an.outputParticles, nShuffles=20)
        self.launchProtocol(sp2)  # the labelled particles give the same classes and distances as the classes
        pd.testing.assert_frame_equal(pd.read_csv(os.path.join(sp2._outDir(), "neighbours.csv")),
                                      nb.reset_index())
        self.assertIn("clustered", " ".join(sp.summary()))
