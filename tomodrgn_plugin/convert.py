"""Conversion between tomodrgn_core particle tables and Scipion objects. No math here: poses come from
tomodrgn_core.physics, files from tomodrgn_core.io."""
import numpy as np
import pyworkflow.object as pwobj
from pwem.objects import Transform
from tomo import constants as tconst
from tomo.objects import Coordinate3D, SubTomogram, TomoAcquisition

from .constants import ATTR_CLASS, ATTR_INDEX, ATTR_Z

RELION5_SET = "RelionSetOfPseudoSubtomograms"


def star_of(particles):
    """(star path, source software) of a particle set we can train on, or (None, None)."""
    if hasattr(particles, "getStarFile") and particles.getStarFile():
        return particles.getStarFile(), particles.getSourceSoftware()
    if type(particles).__name__ == RELION5_SET:  # scipion-em-reliontomo, referenced by name (optional plugin)
        return particles.getFilesMaster(), "relion5"
    return None, None


def fill_particles(particle_set, out_set) -> None:
    """One SubTomogram per particle of a tomodrgn_core ParticleSet: sampling rate, acquisition, tomogram
    coordinate (px at the particle sampling, as written by the source) and the pose of its lowest-dose tilt
    (RELION rotation matrix: reference -> image), plus ``_tomodrgnIndex``."""
    from tomodrgn_core.io import schema as S
    from tomodrgn_core.physics import euler_to_matrix

    t = particle_set.table
    apix = particle_set.pixel_size
    first = t.loc[t.groupby(S.PARTICLE_INDEX)[S.DOSE].idxmin()].reset_index(drop=True)
    acq = TomoAcquisition(voltage=float(first[S.VOLTAGE].iloc[0]), sphericalAberration=float(first[S.CS].iloc[0]),
                          amplitudeContrast=float(first[S.AMP_CONTRAST].iloc[0]))
    out_set.setSamplingRate(apix)
    out_set.setAcquisition(acq)
    mats = euler_to_matrix(first[S.ROT].to_numpy(), first[S.TILT].to_numpy(), first[S.PSI].to_numpy())
    coords = first[[c for c in (S.COORD_X, S.COORD_Y, S.COORD_Z)]].to_numpy(float) if S.COORD_X in first else \
        np.full((len(first), 3), np.nan)
    for i, row in first.iterrows():
        sub = SubTomogram()
        sub.setLocation(int(row[S.IMAGE_INDEX]) + 1, str(row[S.IMAGE_PATH]))
        sub.setSamplingRate(apix)
        sub.setAcquisition(acq)
        sub.setVolName(str(row[S.TOMO_ID]))
        coord = Coordinate3D()
        xyz = coords[i] / apix if np.isfinite(coords[i]).all() else np.zeros(3)
        coord.setPosition(*xyz, tconst.SCIPION)
        coord.setTomoId(str(row[S.TOMO_ID]))
        sub.setCoordinate3D(coord)
        m = np.eye(4)
        m[:3, :3] = mats[i]
        sub.setTransform(Transform(m))
        setattr(sub, ATTR_INDEX, pwobj.Integer(int(row[S.PARTICLE_INDEX])))
        out_set.append(sub)


def copy_with_attributes(in_set, out_set, z=None, labels=None, keep=None) -> None:
    """Copy items (optionally only those whose _tomodrgnIndex is in ``keep``), attaching latent z / class."""
    out_set.copyInfo(in_set)
    for item in in_set.iterItems():
        idx = getattr(item, ATTR_INDEX).get()
        if keep is not None and idx not in keep:
            continue
        new = item.clone()
        if z is not None:
            setattr(new, ATTR_Z, pwobj.String(",".join(f"{v:.6g}" for v in z[idx])))
        if labels is not None:
            setattr(new, ATTR_CLASS, pwobj.Integer(int(labels[idx])))
        out_set.append(new)


def parse_z(text: str) -> np.ndarray:
    """Latent values stored on an item (a string after a round trip through the project database)."""
    return np.array([float(v) for v in str(text).split(",") if v.strip()])
