"""Conversion between tomodrgn_core particle tables and Scipion objects. No math here: poses come from
tomodrgn_core.physics / tomodrgn_core.tiltseries, files from tomodrgn_core.io."""
import numpy as np
import pyworkflow.object as pwobj
from pwem.objects import Transform
from tomo import constants as tconst
from tomo.objects import Coordinate3D, SubTomogram, TomoAcquisition

from .constants import ATTR_CLASS, ATTR_INDEX, ATTR_Z

RELION5_SET = "RelionSetOfPseudoSubtomograms"  # scipion-em-reliontomo, referenced by name (optional plugin)
RELION5_ITEM = "RelionPSubtomogram"


def is_relion5_set(particles) -> bool:
    return any(c.__name__ == RELION5_SET for c in type(particles).__mro__)


def relion_class(name: str):
    """A scipion-em-reliontomo class by name, or None when that plugin is not installed."""
    import pwem
    return pwem.Domain.getObjects().get(name)


def star_of(particles):
    """(star path, source software) of a particle set we can train on, or (None, None)."""
    if hasattr(particles, "getStarFile") and particles.getStarFile():
        return particles.getStarFile(), particles.getSourceSoftware()
    if is_relion5_set(particles) and particles._filesMaster.get():
        return particles._filesMaster.get(), "relion5"
    return None, None


def set_star(out_set, star: str, source: str) -> None:
    """Point a particle set at its STAR (ours) or optimisation set (reliontomo's class)."""
    if hasattr(out_set, "setStarFile"):
        out_set.setStarFile(star)
        out_set.setSourceSoftware(source)
    elif is_relion5_set(out_set):
        out_set.filesMaster = star  # reliontomo reads the tomograms/particles STARs and optics from it


def _first_tilts(particle_set):
    from tomodrgn_core.io import schema as S
    t = particle_set.table
    return t.loc[t.groupby(S.PARTICLE_INDEX)[S.DOSE].idxmin()].reset_index(drop=True)


def _acquisition(first) -> TomoAcquisition:
    from tomodrgn_core.io import schema as S
    return TomoAcquisition(voltage=float(first[S.VOLTAGE].iloc[0]), sphericalAberration=float(first[S.CS].iloc[0]),
                           amplitudeContrast=float(first[S.AMP_CONTRAST].iloc[0]))


def _coords_px(first, apix: float) -> np.ndarray:
    from tomodrgn_core.io import schema as S
    if S.COORD_X not in first:
        return np.zeros((len(first), 3))
    xyz = first[[S.COORD_X, S.COORD_Y, S.COORD_Z]].to_numpy(float) / apix
    return np.where(np.isfinite(xyz), xyz, 0.0)


def fill_particles(particle_set, out_set) -> None:
    """One SubTomogram per particle of a tomodrgn_core ParticleSet: sampling rate, acquisition, tomogram
    coordinate (px at the particle sampling, centred: Scipion's SCIPION origin) and the pose of its lowest-dose
    tilt (RELION rotation matrix: reference -> image), plus ``_tomodrgnIndex``."""
    from tomodrgn_core.io import schema as S
    from tomodrgn_core.physics import euler_to_matrix

    apix = particle_set.pixel_size
    first = _first_tilts(particle_set)
    acq = _acquisition(first)
    out_set.setSamplingRate(apix)
    out_set.setAcquisition(acq)
    mats = euler_to_matrix(first[S.ROT].to_numpy(), first[S.TILT].to_numpy(), first[S.PSI].to_numpy())
    coords = _coords_px(first, apix)
    for i, row in first.iterrows():
        sub = SubTomogram()
        sub.setLocation(int(row[S.IMAGE_INDEX]) + 1, str(row[S.IMAGE_PATH]))
        sub.setSamplingRate(apix)
        sub.setAcquisition(acq)
        sub.setVolName(str(row[S.TOMO_ID]))
        coord = Coordinate3D()
        coord.setPosition(*coords[i], tconst.SCIPION)
        coord.setTomoId(str(row[S.TOMO_ID]))
        sub.setCoordinate3D(coord)
        m = np.eye(4)
        m[:3, :3] = mats[i]
        sub.setTransform(Transform(m))
        setattr(sub, ATTR_INDEX, pwobj.Integer(int(row[S.PARTICLE_INDEX])))
        out_set.append(sub)


def fill_relion_particles(particle_set, out_set) -> None:
    """RELION 5 / WarpTools optimisation set -> scipion-em-reliontomo's RelionSetOfPseudoSubtomograms (2D stacks),
    so that RELION 5 refine/classify protocols take it unchanged. Items keep their rlnTomoParticleName."""
    from tomodrgn_core.io import schema as S

    item_cls = relion_class(RELION5_ITEM)
    apix = particle_set.pixel_size
    first = _first_tilts(particle_set)
    star = particle_set.origin["optimisation_set"] if particle_set.origin.get("optimisation_set") else None
    out_set.setTsSamplingRate(apix)
    out_set.setRelionBinning(1.0)
    out_set.setSamplingRate(apix)
    out_set.setBoxSize(int(particle_set.box))
    out_set.setAre2dStacks(True)
    out_set.setAreRe5Particles(True)
    out_set.setNReParticles(int(particle_set.n_particles))
    out_set.setAcquisition(_acquisition(first))
    if star:
        out_set.filesMaster = str(star)
    rows = particle_set.origin["particle_blocks"][particle_set.origin["image_block"]]
    coords = _coords_px(first, apix)
    for i, row in first.iterrows():
        src = rows.iloc[int(row[S.SOURCE_ROW])]
        item = item_cls(fileName=str(src.get("rlnImageName", row[S.IMAGE_PATH])), samplingRate=apix,
                        tsId=str(row[S.TOMO_ID]), relionParticleName=str(row[S.PARTICLE_ID]),
                        visibleFrames=str(src.get("rlnTomoVisibleFrames", "")),
                        rot=float(src.get("rlnAngleRot", 0)), tilt=float(src.get("rlnAngleTilt", 0)),
                        psi=float(src.get("rlnAnglePsi", 0)), opticsGroupId=int(src.get("rlnOpticsGroup", 1)),
                        xInImg=float(src.get("rlnCenteredCoordinateXAngst", 0)),
                        yInImg=float(src.get("rlnCenteredCoordinateYAngst", 0)),
                        zInImg=float(src.get("rlnCenteredCoordinateZAngst", 0)),
                        coordX=coords[i, 0], coordY=coords[i, 1], coordZ=coords[i, 2])
        coord = Coordinate3D()
        coord.setPosition(*coords[i], tconst.SCIPION)
        coord.setTomoId(str(row[S.TOMO_ID]))
        item.setCoordinate3D(coord)
        setattr(item, ATTR_INDEX, pwobj.Integer(int(row[S.PARTICLE_INDEX])))
        out_set.append(item)


def index_resolver(in_set):
    """item -> its particle row in the set's STAR. Our items carry ``_tomodrgnIndex``; items made by
    scipion-em-reliontomo are matched by rlnTomoParticleName against the optimisation set."""
    first = in_set.getFirstItem()
    if getattr(first, ATTR_INDEX, None) is not None:
        return lambda item: getattr(item, ATTR_INDEX).get()
    from tomodrgn_core.errors import TomoDrgnInputError
    from tomodrgn_core.io import load_particles, schema as S

    star, source = star_of(in_set)
    t = load_particles(star, source).table
    names = dict(zip(t[S.PARTICLE_ID].astype(str), t[S.PARTICLE_INDEX].astype(int)))

    def resolve(item):
        name = str(item.getRelionParticleName()) if hasattr(item, "getRelionParticleName") else None
        if name not in names:
            raise TomoDrgnInputError(f"particle {name!r} (item {item.getObjId()}) is not in the optimisation set",
                                     path=star, fix="use the set that was written with this optimisation set")
        return names[name]
    return resolve


def star_rows(in_set) -> list:
    """Sorted STAR particle rows of a set's items: fewer than the STAR holds when the set is a subset (made
    by Scipion's own subset tools, which keep the STAR of the full set)."""
    index_of = index_resolver(in_set)
    return sorted({int(index_of(item)) for item in in_set.iterItems()})


def copy_with_attributes(in_set, out_set, z=None, labels=None, keep=None) -> None:
    """Copy items, attaching the particle index, latent z and class. ``out_set`` should be of the input's
    class (``in_set.create(path)``) so downstream protocols of other plugins accept it.

    ``keep``: the STAR rows that the output's STAR holds, as filter_star writes them (in input order). Only
    those items are copied, and each is renumbered to its row in that STAR, so that ``_tomodrgnIndex`` always
    indexes the set's own STAR. ``z`` / ``labels`` are indexed in that output numbering."""
    out_set.copyInfo(in_set)
    index_of = index_resolver(in_set)
    row_in_output = None if keep is None else {int(old): new for new, old in enumerate(sorted(keep))}
    for item in in_set.iterItems():
        idx = int(index_of(item))
        if row_in_output is not None:
            if idx not in row_in_output:
                continue
            idx = row_in_output[idx]
        new = item.clone()
        setattr(new, ATTR_INDEX, pwobj.Integer(idx))
        if z is not None:
            setattr(new, ATTR_Z, pwobj.String(",".join(f"{v:.6g}" for v in z[idx])))
        if labels is not None:
            setattr(new, ATTR_CLASS, pwobj.Integer(int(labels[idx])))
        out_set.append(new)


def parse_z(text: str) -> np.ndarray:
    """Latent values stored on an item (a string after a round trip through the project database)."""
    return np.array([float(v) for v in str(text).split(",") if v.strip()])


# --- Scipion tomo sets -> tomodrgn_core.tiltseries inputs ("prepare image series") ---------------------------
def scipion_to_relion_pose(matrix) -> np.ndarray:
    """RELION rotation matrix of a Scipion coordinate/subtomogram matrix (TR_RELION convention), read exactly as
    scipion-em-reliontomo writes rlnAngleRot/Tilt/Psi (convertBase.getTransformInfoFromCoordOrSubtomo)."""
    from pwem.convert.transformations import euler_from_matrix
    from tomodrgn_core.physics import euler_to_matrix
    angles = -np.rad2deg(euler_from_matrix(np.linalg.inv(np.asarray(matrix, float)), axes="szyz"))
    return euler_to_matrix(*angles)


def relion_pose_to_scipion(A) -> np.ndarray:
    """Inverse of scipion_to_relion_pose: a 4x4 Scipion matrix (TR_RELION convention) for a RELION pose."""
    from pwem.convert.transformations import euler_matrix
    from tomodrgn_core.physics import matrix_to_euler
    rot, tilt, psi = np.deg2rad(np.asarray(matrix_to_euler(np.asarray(A, float)[None]))[0])
    return np.linalg.inv(euler_matrix(-rot, -tilt, -psi, axes="szyz"))


class StackFrames:
    """Some frames of an MRC stack, memory-mapped: what tomodrgn_core.tiltseries reads one tilt at a time."""

    def __init__(self, path: str, frames):
        import mrcfile
        self._data = mrcfile.mmap(path, mode="r", permissive=True).data
        self._frames = np.asarray(frames, int)
        self.shape = (len(self._frames),) + tuple(self._data.shape[-2:])

    def __getitem__(self, t):
        return self._data[self._frames[t]]


def _matrix_3x3(ti) -> np.ndarray:
    """IMOD-style raw -> aligned 2D matrix of a TiltImage (identity when it has no alignment)."""
    m = np.eye(3)
    tr = ti.getTransform() if ti.hasTransform() else None
    if tr is not None:
        src = np.asarray(tr.getMatrix(), float)
        m[:2, :2], m[:2, 2] = src[:2, :2], src[:2, -1]
    return m


def ctf_table(ctf_set) -> dict:
    """{tsId: {acquisition order (or index): (defocus U, V, angle)}} of a SetOfCTFTomoSeries."""
    out = {}
    for series in ctf_set.iterItems():
        d = out.setdefault(series.getTsId(), {})
        for c in series.iterItems():
            key = c.getAcquisitionOrder() if c.getAcquisitionOrder() is not None else c.getIndex()
            d[key] = (c.getDefocusU(), c.getDefocusV(), c.getDefocusAngle())
    return out


def tilt_geometry(ts, ctfs: dict | None = None, default_defocus: float = 25000.0):
    """(StackFrames, TiltGeometry) of the enabled tilt images of a Scipion TiltSeries, frames in stack order.
    Dose: the tilt image's pre-exposure (doseInitial, as reliontomo writes rlnMicrographPreExposure); defocus:
    ``ctfs`` (one tilt series of ctf_table) by acquisition order (or index), else the default."""
    from tomodrgn_core.tiltseries import TiltGeometry

    tis = sorted((ti.clone() for ti in ts.iterItems() if ti.isEnabled()), key=lambda t: t.getIndex())
    path = tis[0].getFileName().split(":")[0]
    ctfs = ctfs or {}

    def defocus(ti):
        key = ti.getAcquisitionOrder() if ti.getAcquisitionOrder() is not None else ti.getIndex()
        return ctfs.get(key, (default_defocus, default_defocus, 0.0))

    dfs = np.array([defocus(ti) for ti in tis], float)
    stack = StackFrames(path, [ti.getIndex() - 1 for ti in tis])
    geom = TiltGeometry(tilt_angles=np.array([ti.getTiltAngle() for ti in tis], float),
                        transforms=np.stack([_matrix_3x3(ti) for ti in tis]), image_shape=stack.shape[1:],
                        dose=np.array([ti.getAcquisition().getDoseInitial() or 0.0 for ti in tis], float),
                        defocus_u=dfs[:, 0], defocus_v=dfs[:, 1], defocus_angle=dfs[:, 2],
                        pixel_size=float(ts.getSamplingRate()))
    return stack, geom


def particle_positions(particles, ts_apix: float):
    """{tomo id: (object ids, coords (n, 3) px at the tilt-series sampling, centred; RELION poses (n, 3, 3))}
    from a SetOfCoordinates3D or a SetOfSubTomograms (their Coordinate3D and alignment)."""
    from tomo.objects import SetOfCoordinates3D
    is_coords = isinstance(particles, SetOfCoordinates3D)
    coord_set = particles if is_coords else (particles.getCoordinates3D().get()
                                             if getattr(particles, "getCoordinates3D", None)
                                             and particles.getCoordinates3D() is not None else None)
    coord_apix = coord_set.getSamplingRate() if coord_set is not None else particles.getSamplingRate()
    out = {}
    for item in particles.iterItems():
        coord = item if is_coords else item.getCoordinate3D()
        m = coord.getMatrix(convention=tconst.TR_RELION) if is_coords else \
            item.getTransform(convention=tconst.TR_RELION).getMatrix()
        ids, xyz, poses = out.setdefault(str(coord.getTomoId()), ([], [], []))
        ids.append(int(item.getObjId()))
        xyz.append(np.array(coord.getPosition(tconst.SCIPION), float) * coord_apix / ts_apix)
        poses.append(scipion_to_relion_pose(m))
    return {k: (v[0], np.array(v[1]), np.array(v[2])) for k, v in out.items()}
