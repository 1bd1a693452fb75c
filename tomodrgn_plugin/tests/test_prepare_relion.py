"""Protocol tests for the Scipion-side inputs: "prepare image series" from tomo sets built here from a
simulated tomogram, and the RELION 5 (scipion-em-reliontomo) chain. Real projects, real protocols, no downloads."""
from pathlib import Path

import numpy as np
from pwem.objects import Transform
from pwem.protocols import EMProtocol
from pyworkflow.tests import BaseTest, setupTestProject

from tomodrgn_core.analysis.metrics import map_cc
from tomodrgn_plugin.constants import ATTR_INDEX, ATTR_Z
from tomodrgn_plugin.convert import relion_pose_to_scipion
from tomodrgn_plugin.protocols import (ProtTomoDrgnImportParticles, ProtTomoDrgnPrepareImageSeries,
                                       ProtTomoDrgnSubsetExport, ProtTomoDrgnTrainVAE)

FIXTURE = (Path(__file__).resolve().parents[2] / "tests" / "data" / "relion5_warptools_small"
           / "warptools_test_4-tomos_10-ptcls_box-32_angpix-12_optimisation_set.star")


class TestTomoDrgnPrepareAndRelion(BaseTest):
    @classmethod
    def setUpClass(cls):
        setupTestProject(cls)

    def _register(self, **outputs):
        """Put sets built in the test into the project as a finished protocol's outputs (as the GUI does)."""
        prot = self.newProtocol(EMProtocol)
        self.saveProtocol(prot)
        path = Path(self.proj.path) / prot._getPath()
        path.mkdir(parents=True, exist_ok=True)
        built = {name: make(str(path)) for name, make in outputs.items()}
        prot._defineOutputs(**built)
        prot.setStatus("finished")
        self.proj._storeProtocol(prot)
        return prot

    def test_prepare_from_scipion_sets(self):
        import mrcfile
        from tomo import constants as tconst
        from tomo.objects import (CTFTomo, CTFTomoSeries, Coordinate3D, SetOfCoordinates3D, SetOfCTFTomoSeries,
                                  SetOfTiltSeries, SetOfTomograms, TiltImage, TiltSeries, TomoAcquisition,
                                  Tomogram)
        from tomodrgn_core.io import load_particles, schema as S
        from tomodrgn_core.physics import euler_to_matrix
        from tomodrgn_core.tiltseries import particle_tilt_poses, simulate_tomogram_tilt_series

        nt = 2 * 45 // 9 + 1
        defoci = 20000.0 + 150.0 * np.arange(nt)  # per tilt (frame order); the images carry these CTFs
        sim = simulate_tomogram_tilt_series(n_particles=5, tomo_shape=(224, 224, 40), box=24, pixel_size=10.0,
                                            max_tilt=45, tilt_step=9, seed=3, ctf=True, defocus=defoci)
        geom = sim.geometry
        self.assertEqual(len(geom.tilt_angles), nt)
        stack_path = Path(self.getOutputPath("TS_01.mrcs"))
        with mrcfile.new(stack_path, overwrite=True) as m:
            m.set_data(sim.stack.astype(np.float32))

        def tilt_series(path):
            out = SetOfTiltSeries.create(path)
            out.setSamplingRate(10.0)
            out.setAcquisition(TomoAcquisition(voltage=300, sphericalAberration=2.7, amplitudeContrast=0.1))
            ts = TiltSeries(tsId="TS_01")
            ts.setSamplingRate(10.0)
            out.append(ts)
            for i in range(nt):
                ti = TiltImage(location=(i + 1, str(stack_path)), tsId="TS_01", tiltAngle=float(geom.tilt_angles[i]),
                               acquisitionOrder=int(np.argsort(np.argsort(geom.dose))[i]))
                ti.setSamplingRate(10.0)
                acq = TomoAcquisition(voltage=300, sphericalAberration=2.7, amplitudeContrast=0.1)
                acq.setDoseInitial(float(geom.dose[i]))
                ti.setAcquisition(acq)
                ti.setTransform(Transform(np.asarray(geom.transforms[i], float)))
                ts.append(ti)
            out.update(ts)
            out.write()
            return out

        def ctf(path):
            out = SetOfCTFTomoSeries.create(path)
            out.setSetOfTiltSeries(tomos.outputTiltSeries)
            series = CTFTomoSeries(tsId="TS_01")
            out.append(series)
            order = np.argsort(np.argsort(geom.dose))
            for i in range(nt):
                c = CTFTomo(index=i + 1, acqOrder=int(order[i]))
                c.setStandardDefocus(float(defoci[i]), float(defoci[i]), 0.0)
                series.append(c)
            out.update(series)
            out.write()
            return out

        def tomograms(path):  # coordinates need their tomograms (Scipion resolves tomo ids through them)
            tomo_path = Path(path) / "TS_01.mrc"
            with mrcfile.new(tomo_path, overwrite=True) as m:
                m.set_data(np.zeros(sim.tomo_shape[::-1], np.float32))
                m.voxel_size = 10.0
            out = SetOfTomograms.create(path)
            out.setSamplingRate(10.0)
            tomo = Tomogram(location=str(tomo_path), tsId="TS_01")
            tomo.setSamplingRate(10.0)
            out.append(tomo)
            out.write()
            return out

        tomos = self._register(outputTomograms=tomograms, outputTiltSeries=tilt_series)

        def coordinates(path):
            out = SetOfCoordinates3D.create(path)
            out.setSamplingRate(10.0)
            out.setBoxSize(24)
            out.setPrecedents(tomos.outputTomograms)
            for xyz, A in zip(sim.coords, sim.poses):
                c = Coordinate3D()
                c.setTomoId("TS_01")
                c.setPosition(*xyz, tconst.SCIPION)
                c.setMatrix(relion_pose_to_scipion(A), convention=tconst.TR_RELION)
                out.append(c)
            out.write()
            return out

        src = self._register(outputCtf=ctf, outputCoordinates=coordinates)
        prep = self.newProtocol(ProtTomoDrgnPrepareImageSeries, inputParticles=src.outputCoordinates,
                                inputTiltSeries=tomos.outputTiltSeries, inputCtf=src.outputCtf, boxSize=24,
                                normalise=False)
        self.launchProtocol(prep)
        parts = prep.outputParticles
        self.assertEqual(parts.getSize(), 5)
        first = parts.getFirstItem()
        self.assertEqual(first.getCoordinate3D().getTomoId(), "TS_01")  # the input coordinate travels along
        ps = load_particles(parts.getStarFile())
        t = ps.table
        self.assertEqual(ps.n_particles, 5)
        self.assertEqual(int(ps.ntilts.sum()), 5 * nt)  # the simulator keeps every box inside the images
        frames = t[S.FRAME].to_numpy()
        np.testing.assert_allclose(t[S.DEFOCUS_U], defoci[frames], atol=1e-3)  # CTF series -> per-tilt defocus
        # dose = each tilt image's pre-exposure as Scipion stores it (its SQLite round trip zeroes the first tilt
        # image's acquisition in this hand-built set, so compare with what the set really holds)
        stored = {ti.getIndex() - 1: ti.getAcquisition().getDoseInitial()
                  for ts in tomos.outputTiltSeries.iterItems() for ti in ts.iterItems()}
        np.testing.assert_allclose(t[S.DOSE], [stored[f] for f in frames], atol=1e-4)
        self.assertGreater(np.mean(np.isclose(t[S.DOSE], geom.dose[frames])), 0.9)
        expected = particle_tilt_poses(sim.poses, geom)[t[S.PARTICLE_INDEX].to_numpy(), frames]
        got = euler_to_matrix(t[S.ROT].to_numpy(), t[S.TILT].to_numpy(), t[S.PSI].to_numpy())
        np.testing.assert_allclose(got, expected, atol=1e-4)  # Scipion pose -> RELION pose -> per-tilt pose
        imgs = ps.images(np.arange(len(t)))
        ccs = [map_cc(imgs[r], sim.direct[p, f]) for r, (p, f) in enumerate(zip(t[S.PARTICLE_INDEX], frames))]
        self.assertGreater(min(ccs), 0.9)  # extracted boxes = the simulator's own projections of each particle

    def test_relion5_chain(self):
        """RELION 5 optimisation set -> reliontomo's RelionSetOfPseudoSubtomograms -> train VAE -> subset export
        returns the same class with a filtered optimisation set."""
        from tomodrgn_core.io import load_particles

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
        reread = load_particles(out.filesMaster)
        names = sorted(reread.table.groupby("particle_index")["particle_id"].first())
        self.assertEqual(names, sorted(p.getRelionParticleName() for p in out))
