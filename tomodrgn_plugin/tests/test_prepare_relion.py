"""Protocol tests for the Scipion-side inputs: "prepare image series" from tomo sets built here from the files of a
simulated tomogram (``tomodrgn simulate_tilt_series``), and the RELION 5 (scipion-em-reliontomo) chain. Real
projects, real protocols, no downloads; the core runs in its own Python (_core.py)."""
import json
from pathlib import Path

import numpy as np
from pwem.objects import Transform
from pyworkflow.tests import BaseTest, setupTestProject

from tomodrgn_plugin.constants import ATTR_INDEX, ATTR_Z
from tomodrgn_plugin.protocols import (ProtTomoDrgnImportParticles, ProtTomoDrgnPrepareImageSeries,
                                       ProtTomoDrgnSubsetExport, ProtTomoDrgnTrainVAE)
from tomodrgn_plugin.tests._core import core, core_eval
from tomodrgn_plugin.tests._project import finish_run, stand_in_run

FIXTURE = (Path(__file__).resolve().parents[2] / "tests" / "data" / "relion5_warptools_small"
           / "warptools_test_4-tomos_10-ptcls_box-32_angpix-12_optimisation_set.star")
# what prepare wrote vs the simulation's truth (tomodrgn simulate_tilt_series): per-tilt CTF, dose, poses, images
CHECK_PREPARED = """
from tomodrgn_core.analysis.metrics import map_cc
from tomodrgn_core.io import load_particles, schema as S
from tomodrgn_core.physics import euler_to_matrix
from tomodrgn_core.tiltseries import TiltGeometry, particle_tilt_poses
ps = load_particles(star)
t = ps.table
truth = json.load(open(truth_json))["tomograms"]["TS_01"]
order = [int(v) for v in ids]  # STAR particle i is the input's object ids[i] (its particle_id)
f = t[S.FRAME].to_numpy()
p = t[S.PARTICLE_INDEX].to_numpy()
sim = np.array([order.index(int(v)) for v in t[S.PARTICLE_ID]])  # the simulated particle of each row
nt = len(truth["tilt_angles"])
geom = TiltGeometry(np.array(truth["tilt_angles"]), np.array(truth["transforms"]), (0, 0), np.array(truth["dose"]),
                    np.array(truth["defocus"]), np.array(truth["defocus"]), np.zeros(nt), 10.0)
ang = np.array(truth["angles"])
poses = particle_tilt_poses(euler_to_matrix(ang[:, 0], ang[:, 1], ang[:, 2]), geom)[sim, f]
got = euler_to_matrix(t[S.ROT].to_numpy(), t[S.TILT].to_numpy(), t[S.PSI].to_numpy())
direct = np.load(direct_npy)
imgs = ps.images(np.arange(len(t)))
result = {"n": ps.n_particles, "images": len(t), "defocus": t[S.DEFOCUS_U].tolist(), "frames": f.tolist(),
          "dose": t[S.DOSE].tolist(), "pose_error": float(np.abs(got - poses).max()),
          "cc": [float(map_cc(imgs[r], direct[sim[r], f[r]])) for r in range(len(t))],
          "origin": float(np.abs(t[[S.SHIFT_X, S.SHIFT_Y]].to_numpy()).max())}
"""
class TestTomoDrgnPrepareAndRelion(BaseTest):
    @classmethod
    def setUpClass(cls):
        setupTestProject(cls)

    def _register(self, **outputs):
        """Put sets built in the test into the project as a finished protocol's outputs (as the GUI does)."""
        prot, path = stand_in_run(self)
        return finish_run(self, prot, **{name: make(str(path)) for name, make in outputs.items()})

    def _simulated(self, n=5):
        """Files of one simulated tilt series (tomodrgn simulate_tilt_series) and its truth."""
        out = Path(self.getOutputPath("tilt_series_sim"))
        core("simulate_tilt_series", "-o", out, "--n-tomos", 1, "-n", n, "-D", 24, "--Apix", 10,
             "--tomo-shape", 224, 224, 40, "--max-tilt", 45, "--tilt-step", 9, "--seed", 3, "--force")
        return out, json.loads((out / "ground_truth" / "truth.json").read_text())["tomograms"]["TS_01"]

    def _tilt_series_sets(self, out, truth):
        """SetOfTiltSeries (stack, angles, dose, IMOD alignment) + SetOfTomograms, built by hand from the files."""
        from tomo.objects import SetOfTiltSeries, SetOfTomograms, TiltImage, TiltSeries, TomoAcquisition, Tomogram
        stack_path = out / "tilt_series" / "TS_01.mrcs"
        nt = len(truth["tilt_angles"])
        order = np.argsort(np.argsort(truth["dose"]))

        def tilt_series(path):
            series = SetOfTiltSeries.create(path)
            series.setSamplingRate(10.0)
            series.setAcquisition(TomoAcquisition(voltage=300, sphericalAberration=2.7, amplitudeContrast=0.1))
            ts = TiltSeries(tsId="TS_01")
            ts.setSamplingRate(10.0)
            series.append(ts)
            for i in range(nt):
                ti = TiltImage(location=(i + 1, str(stack_path)), tsId="TS_01",
                               tiltAngle=float(truth["tilt_angles"][i]), acquisitionOrder=int(order[i]))
                ti.setSamplingRate(10.0)
                acq = TomoAcquisition(voltage=300, sphericalAberration=2.7, amplitudeContrast=0.1)
                acq.setDoseInitial(float(truth["dose"][i]))
                ti.setAcquisition(acq)
                ti.setTransform(Transform(np.asarray(truth["transforms"][i], float)))
                ts.append(ti)
            series.update(ts)
            series.write()
            return series

        def tomograms(path):  # coordinates need their tomograms (Scipion resolves tomo ids through them)
            out_set = SetOfTomograms.create(path)
            out_set.setSamplingRate(10.0)
            tomo = Tomogram(location=str(out / "tomograms" / "TS_01.mrc"), tsId="TS_01")
            tomo.setSamplingRate(10.0)
            out_set.append(tomo)
            out_set.write()
            return out_set

        return self._register(outputTomograms=tomograms, outputTiltSeries=tilt_series)

    def test_prepare_from_scipion_sets(self):
        """Subtomograms whose picked coordinate is off the particle centre, with the offset in their Transform
        (built as scipion-em-reliontomo's reader builds it): prepare must cut the boxes at coordinate - offset and
        give every tilt its own CTF, dose and pose."""
        from reliontomo.convert.convertBase import genTransformMatrix
        from tomo import constants as tconst
        from tomo.objects import (CTFTomo, CTFTomoSeries, Coordinate3D, SetOfCoordinates3D, SetOfCTFTomoSeries,
                                  SetOfSubTomograms, SubTomogram)

        out, truth = self._simulated()
        tomos = self._tilt_series_sets(out, truth)
        nt = len(truth["tilt_angles"])
        defoci = np.array(truth["defocus"])
        rng = np.random.default_rng(7)
        offsets = rng.uniform(-3, 3, (5, 3))  # px: each coordinate sits this far from its particle's centre

        def ctf(path):
            out_set = SetOfCTFTomoSeries.create(path)
            out_set.setSetOfTiltSeries(tomos.outputTiltSeries)
            series = CTFTomoSeries(tsId="TS_01")
            out_set.append(series)
            order = np.argsort(np.argsort(truth["dose"]))
            for i in range(nt):
                c = CTFTomo(index=i + 1, acqOrder=int(order[i]))
                c.setStandardDefocus(float(defoci[i]), float(defoci[i]), 0.0)
                series.append(c)
            out_set.update(series)
            out_set.write()
            return out_set

        def coordinates(path):
            out_set = SetOfCoordinates3D.create(path)
            out_set.setSamplingRate(10.0)
            out_set.setBoxSize(24)
            out_set.setPrecedents(tomos.outputTomograms)
            for xyz, d in zip(truth["coords_px"], offsets):
                c = Coordinate3D()
                c.setTomoId("TS_01")
                c.setPosition(*(np.array(xyz) + d), tconst.SCIPION)  # picked off-centre
                out_set.append(c)
            out_set.write()
            return out_set

        src = self._register(outputCtf=ctf, outputCoordinates=coordinates)

        def subtomograms(path):
            out_set = SetOfSubTomograms.create(path)
            out_set.setSamplingRate(10.0)
            out_set.setCoordinates3D(src.outputCoordinates)
            for coord, ang, d in zip(src.outputCoordinates.iterItems(), truth["angles"], offsets):
                sub = SubTomogram()
                sub.setSamplingRate(10.0)
                sub.setCoordinate3D(coord.clone())
                # RELION: the particle sits at coordinate - origin; reliontomo stores genTransformMatrix as is
                sub.setTransform(Transform(genTransformMatrix(*(d * 10.0), *ang, 10.0)))
                out_set.append(sub)
            out_set.write()
            return out_set

        subs = self._register(outputSubtomograms=subtomograms)
        prep = self.newProtocol(ProtTomoDrgnPrepareImageSeries, inputParticles=subs.outputSubtomograms,
                                inputTiltSeries=tomos.outputTiltSeries, inputCtf=src.outputCtf, boxSize=24,
                                normalise=False)
        self.launchProtocol(prep)
        parts = prep.outputParticles
        self.assertEqual(parts.getSize(), 5)
        first = parts.getFirstItem()
        self.assertEqual(first.getCoordinate3D().getTomoId(), "TS_01")  # the input coordinate travels along
        ids = [str(s.getObjId()) for s in subs.outputSubtomograms]
        res = core_eval(CHECK_PREPARED, star=parts.getStarFile(), ids=ids, truth_json=str(out / "ground_truth" /
                        "truth.json"), direct_npy=str(out / "ground_truth" / "TS_01_direct.npy"))
        self.assertEqual((res["n"], res["images"]), (5, 5 * nt))  # the simulator keeps every box in the images
        frames = np.array(res["frames"])
        np.testing.assert_allclose(res["defocus"], defoci[frames], atol=1e-3)  # CTF series -> per-tilt defocus
        # dose = each tilt image's pre-exposure as Scipion stores it (its SQLite round trip zeroes the first tilt
        # image's acquisition in this hand-built set, so compare with what the set really holds)
        stored = {ti.getIndex() - 1: ti.getAcquisition().getDoseInitial()
                  for ts in tomos.outputTiltSeries.iterItems() for ti in ts.iterItems()}
        np.testing.assert_allclose(res["dose"], [stored[f] for f in frames], atol=1e-4)
        self.assertLess(res["pose_error"], 1e-4)  # Scipion matrix -> RELION pose -> per-tilt pose
        # boxes cut at coordinate - offset = the particle: the simulator's own projections (with the offset
        # ignored, or its sign flipped, the worst CC falls to 0.04 / -0.10); the sub-pixel rest is the origin
        self.assertGreater(min(res["cc"]), 0.9)
        self.assertLess(res["origin"], 10.0)

    def test_scipion_matrices_are_reliontomos(self):
        """The core's Scipion matrices (physics/_geometry.py) are the ones scipion-em-reliontomo's reader stores
        (genTransformMatrix), and its writer reads our matrices back as the RELION angles and origin they hold."""
        from reliontomo.convert.convertBase import genTransformMatrix, getTransformInfoFromCoordOrSubtomo
        from tomo.objects import SubTomogram

        rng = np.random.default_rng(11)
        angles = rng.uniform(-180, 180, (6, 3))
        origins = rng.uniform(-20, 20, (6, 3))  # A
        ours = core_eval("from tomodrgn_core.physics import euler_to_matrix\n"
                         "from tomodrgn_core.physics._geometry import scipion_matrix\n"
                         "a = np.array(angles)\n"
                         "result = scipion_matrix(euler_to_matrix(a[:, 0], a[:, 1], a[:, 2]), np.array(origins) / 4.0)",
                         angles=angles.tolist(), origins=origins.tolist())
        read_back = []
        for M, ang, origin in zip(np.array(ours), angles, origins):
            np.testing.assert_allclose(M, genTransformMatrix(*origin, *ang, 4.0), atol=1e-9)
            sub = SubTomogram()
            sub.setTransform(Transform(M))
            got_angles, got_origin = getTransformInfoFromCoordOrSubtomo(sub, 4.0)
            np.testing.assert_allclose(got_origin, origin, atol=1e-6)
            read_back.append(list(got_angles))
        diff = core_eval("from tomodrgn_core.physics import euler_to_matrix\n"
                         "a, b = np.array(a), np.array(b)\n"
                         "result = np.abs(euler_to_matrix(*a.T) - euler_to_matrix(*b.T)).max()",
                         a=read_back, b=angles.tolist())
        self.assertLess(diff, 1e-6)  # the same rotations (Euler angles are not unique)

    def test_relion5_chain(self):
        """RELION 5 optimisation set -> reliontomo's RelionSetOfPseudoSubtomograms -> train VAE -> subset export
        returns the same class with a filtered optimisation set."""
        imp = self.newProtocol(ProtTomoDrgnImportParticles, starFile=str(FIXTURE), asRelionSet=True)
        self.launchProtocol(imp)
        parts = imp.outputParticles
        self.assertEqual(type(parts).__name__, "RelionSetOfPseudoSubtomograms")
        self.assertEqual(parts.getSize(), 40)
        self.assertEqual(parts.getFirstItem().getRelionParticleName(), "Unt_083/1")
        vae = self.newProtocol(ProtTomoDrgnTrainVAE, inputParticles=parts, numEpochs=2, checkpoint=1, batchSize=8,
                               zDim=2, encDimA=32, encLayersA=1, outDimA=16, encDimB=16, encLayersB=1, decDim=32,
                               decLayers=2, learningRate=3.54e-4, useGpu=False, numberOfThreads=1)
        self.launchProtocol(vae)
        self.assertEqual(type(vae.outputParticles).__name__, "RelionSetOfPseudoSubtomograms")
        self.assertEqual(len([p for p in vae.outputParticles if len(getattr(p, ATTR_Z).get().split(",")) == 2]), 40)
        sub = self.newProtocol(ProtTomoDrgnSubsetExport, inputParticles=vae.outputParticles, selectBy=1,
                               indices="0 5 12 39")
        self.launchProtocol(sub)
        out = sub.outputParticles
        self.assertEqual(type(out).__name__, "RelionSetOfPseudoSubtomograms")
        self.assertEqual(sorted(getattr(p, ATTR_INDEX).get() for p in out), [0, 1, 2, 3])  # rows of the new STAR
        self.assertTrue(out.filesMaster.endswith("_optimisation_set.star"))
        self.assertNotEqual(out.filesMaster, parts.filesMaster)
        names = sorted(core_eval("from tomodrgn_core.io import load_particles\n"
                                 "result = sorted(set(load_particles(star).table['particle_id']))", star=out.filesMaster))
        self.assertEqual(names, sorted(p.getRelionParticleName() for p in out))
