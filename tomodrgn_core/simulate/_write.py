"""Write a SimulatedDataset as a Warp/M image-series STAR and/or a RELION 5 optimisation set."""
from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd

from .. import physics as P
from ..io import write_image_series, write_star, write_volume
from ..io import _schema as S
from ._dataset import SimulatedDataset

# RELION 5 layout with rlnTomoHand +1: R_f = the stage rotation, A_p as simulated, 3D origin = -offset, so RELION,
# the reference tomoDRGN and our reader (physics/_geometry.py) all compose A_f = R_f A_p and origin_f = (R_f o)[:2].


def write_warp(sim: SimulatedDataset, out_star, overwrite: bool = False) -> Path:
    return write_image_series(sim.table, sim.images, out_star, overwrite=overwrite)


def write_relion5(sim: SimulatedDataset, out_dir, name: str = "sim", overwrite: bool = False) -> Path:
    """Particles STAR (2D stacks, one .mrcs per particle with every frame, hidden ones blank), tomograms
    STAR (per-tilt projection matrices, CTF, pre-exposure) and the optimisation set; returns the latter."""
    out_dir = Path(out_dir)
    stacks = out_dir / f"{name}_stacks"
    stacks.mkdir(parents=True, exist_ok=True)
    t = sim.table
    n, nt, D = len(sim.labels), len(sim.stage_tilts), int(t[S.BOX].iloc[0])
    apix = sim.pixel_size
    offsets = np.r_[0, np.cumsum(sim.visible.sum(1))]
    names = []
    for i in range(n):  # one stack file per particle, as RELION 5 writes them
        full = np.zeros((nt, D, D), np.float32)
        full[sim.visible[i]] = sim.images[offsets[i]:offsets[i + 1]]
        path = stacks / f"particle_{i:05d}.mrcs"
        with mrcfile.new(path, overwrite=True) as m:
            m.set_data(full)
            m.voxel_size = apix
        names.append(f"{stacks.name}/{path.name}")
    ang_p = P.matrix_to_euler(sim.particle_poses)
    tomo_names = [f"tomo{k:02d}" for k in range(sim.defocus.shape[0])]
    first = t.groupby(S.PARTICLE_INDEX).first()
    # the particle sits at coordinate + offset, i.e. coordinate - origin (RELION): origin = -offset
    origin = -(sim.offsets if sim.offsets is not None else np.zeros((n, 3))) * apix
    particles = pd.DataFrame({
        "rlnTomoName": [tomo_names[k] for k in sim.tomo_of_particle],
        "rlnTomoParticleId": np.arange(1, n + 1),
        "rlnCoordinateX": first[S.COORD_X].to_numpy() / apix, "rlnCoordinateY": first[S.COORD_Y].to_numpy() / apix,
        "rlnCoordinateZ": first[S.COORD_Z].to_numpy() / apix,
        "rlnAngleRot": ang_p[:, 0], "rlnAngleTilt": ang_p[:, 1], "rlnAnglePsi": ang_p[:, 2],
        "rlnTomoParticleName": [f"{tomo_names[k]}/{i + 1}" for i, k in enumerate(sim.tomo_of_particle)],
        "rlnOpticsGroup": 1, "rlnImageName": names,
        "rlnOriginXAngst": origin[:, 0], "rlnOriginYAngst": origin[:, 1], "rlnOriginZAngst": origin[:, 2],
        "rlnTomoVisibleFrames": ["[" + ",".join(str(int(v)) for v in row) + "]" for row in sim.visible],
    })
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"],
                           "rlnSphericalAberration": [float(t[S.CS].iloc[0])], "rlnVoltage": [float(t[S.VOLTAGE].iloc[0])],
                           "rlnTomoTiltSeriesPixelSize": [apix], "rlnCtfDataAreCtfPremultiplied": [0],
                           "rlnImageDimensionality": [2], "rlnTomoSubtomogramBinning": [1.0],
                           "rlnImagePixelSize": [apix], "rlnImageSize": [D],
                           "rlnAmplitudeContrast": [float(t[S.AMP_CONTRAST].iloc[0])]})
    pfile = out_dir / f"{name}_particles.star"
    write_star(pfile, {"general": {"rlnTomoSubTomosAre2DStacks": 1}, "optics": optics, "particles": particles},
               overwrite=overwrite)
    R = P.euler_to_matrix(np.zeros(nt), -sim.stage_tilts, np.zeros(nt))  # the simulator's stage rotation
    vec = lambda rows: ["[" + ",".join(f"{v:.9g}" for v in r) + "]" for r in rows]
    blocks = {"global": pd.DataFrame({
        "rlnTomoName": tomo_names, "rlnTomoTiltSeriesName": "simulated.mrc", "rlnTomoFrameCount": nt,
        "rlnTomoSizeX": 4000, "rlnTomoSizeY": 4000, "rlnTomoSizeZ": 1000, "rlnTomoHand": 1.0,
        "rlnOpticsGroupName": "opticsGroup1", "rlnTomoTiltSeriesPixelSize": apix,
        "rlnVoltage": float(t[S.VOLTAGE].iloc[0]), "rlnSphericalAberration": float(t[S.CS].iloc[0]),
        "rlnAmplitudeContrast": float(t[S.AMP_CONTRAST].iloc[0]),
        "rlnTomoImportFractionalDose": float(sim.doses[1] - sim.doses[0]) if nt > 1 else 0.0})}
    dfu = sim.defocus if sim.defocus_u is None else sim.defocus_u
    dfv = sim.defocus if sim.defocus_v is None else sim.defocus_v
    dfang = np.zeros_like(sim.defocus) if sim.defocus_angle is None else sim.defocus_angle
    for k, tn in enumerate(tomo_names):
        blocks[tn] = pd.DataFrame({
            "rlnTomoProjX": vec(np.c_[R[:, 0, :], np.zeros(nt)]), "rlnTomoProjY": vec(np.c_[R[:, 1, :], np.zeros(nt)]),
            "rlnTomoProjZ": vec(np.c_[R[:, 2, :], np.zeros(nt)]), "rlnTomoProjW": vec(np.tile([0, 0, 0, 1.0], (nt, 1))),
            "rlnDefocusU": dfu[k], "rlnDefocusV": dfv[k], "rlnDefocusAngle": dfang[k],
            "rlnCtfScalefactor": np.cos(np.deg2rad(sim.stage_tilts)), "rlnMicrographPreExposure": sim.doses})
    tfile = out_dir / f"{name}_tomograms.star"
    write_star(tfile, blocks, overwrite=overwrite)
    ofile = out_dir / f"{name}_optimisation_set.star"
    write_star(ofile, {"": {"rlnTomoParticlesFile": pfile.name, "rlnTomoTomogramsFile": tfile.name}}, overwrite=overwrite)
    return ofile


def write_ground_truth(sim: SimulatedDataset, out_dir) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, vol in enumerate(sim.volumes):
        paths.append(out_dir / f"class_{k:02d}.mrc")
        write_volume(paths[-1], vol, sim.pixel_size)
    if sim.motion_domain is not None:  # the ends of the continuous motion, for each class
        for k in range(len(sim.volumes)):
            for t in (0.0, 1.0):
                paths.append(out_dir / f"class_{k:02d}_t{t:.1f}.mrc")
                write_volume(paths[-1], sim.volume_at(k, t), sim.pixel_size)
    np.save(out_dir / "labels.npy", sim.labels)
    pd.DataFrame({"particle_index": np.arange(len(sim.labels)), "label": sim.labels,
                  "continuous": sim.continuous}).to_csv(out_dir / "labels.csv", index=False)
    return paths
