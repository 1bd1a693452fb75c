"""The demo: a real Scipion project on disk, headless, running the tomoDRGN protocol chain on a small
simulated two-class dataset (import -> train homogeneous -> train VAE -> analyze with an automatic number of
classes -> validate a class -> spatial statistics -> subset export). Class 1 sits in clusters in its tomograms.

Run it with `bash tests/demo.sh` (it installs everything first)."""
import os
import sys
import time

PROJECT = "tomodrgn_demo"


def main() -> int:
    from pyworkflow.project import Manager

    from tomodrgn_plugin.constants import ATTR_CLASS, ATTR_INDEX
    from tomodrgn_plugin.tests._core import core_eval, simulate
    from tomodrgn_plugin.protocols import (ProtTomoDrgnAnalyze, ProtTomoDrgnImportParticles,
                                           ProtTomoDrgnSpatialStats, ProtTomoDrgnSubsetExport,
                                           ProtTomoDrgnTrainHomogeneous, ProtTomoDrgnTrainVAE,
                                           ProtTomoDrgnValidateSelection)

    manager = Manager()
    if manager.hasProject(PROJECT):
        manager.deleteProject(PROJECT)
    project = manager.createProject(PROJECT)
    project.settings.setProtocolView("Tomography")  # where the tomoDRGN boxes are (not the default SPA view)
    project.saveSettings()
    os.chdir(project.path)  # pyworkflow resolves run paths relative to the project folder
    data_dir = os.path.join(project.path, "simulated_data")
    print(f"simulating 200 particles of two classes (box 32, 31 tilts; class 1 in clusters) in {data_dir}", flush=True)
    sim = simulate(data_dir, n_particles=200, box=32, n_classes=2, snr=0.5, seed=0, max_tilt=45,
                   clustered_class=1)  # the core's CLI
    fast = dict(batchSize=8, decDim=128, learningRate=3.54e-4, sampleNtilts=10, useGpu=False)

    def run(cls, **kw):
        prot = project.newProtocol(cls, **kw)
        t0 = time.time()
        project.launchProtocol(prot, wait=True)
        if prot.isFailed():
            print(f"FAILED: {prot.getRunName()} (log: {prot.getLogPaths()[0]})")
            raise SystemExit(1)
        print(f"  {prot.getRunName():40s} done in {time.time() - t0:5.1f} s: {' '.join(prot.summary())}", flush=True)
        return prot

    imp = run(ProtTomoDrgnImportParticles, starFile=str(sim["warp"]))
    run(ProtTomoDrgnTrainHomogeneous, inputParticles=imp.outputParticles, numEpochs=8, checkpoint=4, **fast)
    vae = run(ProtTomoDrgnTrainVAE, inputParticles=imp.outputParticles, numEpochs=20, checkpoint=5, zDim=2,
              encDimA=64, encLayersA=2, outDimA=64, encDimB=32, encLayersB=4, **fast)
    an = run(ProtTomoDrgnAnalyze, inputModel=vae.outputModel, inputParticles=vae.outputParticles, ksample="auto",
             skipUmap=False, useGpu=False)
    labels = {getattr(p, ATTR_INDEX).get(): getattr(p, ATTR_CLASS).get() for p in an.outputParticles}
    ari = core_eval("from tomodrgn_core.analysis.metrics import adjusted_rand_index\n"
                    "result = adjusted_rand_index(np.load(truth), np.array(pred))", truth=str(sim["labels"]),
                    pred=[labels[i] for i in range(len(labels))])
    print(f"  k-means classes vs the simulated truth: adjusted Rand index {ari:.2f}")
    run(ProtTomoDrgnValidateSelection, inputModel=vae.outputModel, inputSelection=an.outputClasses, classIds="1",
        useGpu=False)
    run(ProtTomoDrgnSpatialStats, inputSelection=an.outputClasses)
    sub = run(ProtTomoDrgnSubsetExport, inputParticles=an.outputParticles, classIds="1")
    print(f"\nproject: {project.path}")
    print(f"analysis plots: {an._outDir()}")
    print(f"subset STAR for RELION/Dynamo: {sub.outputParticles.getStarFile()}")
    print(f"open it in the Scipion GUI:  SCIPION_USER_DATA={os.environ.get('SCIPION_USER_DATA')} "
          f".venv/bin/python -m scipion project {PROJECT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
