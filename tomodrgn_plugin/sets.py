"""The set-level companions of imported particles, built as the other plugins' importers build theirs:
tomogram records and 3D coordinates (scipion-em-tomo's sets), and RELION 5 pseudo-subtomograms through
scipion-em-reliontomo's own reader (as its importers and scipion-em-warp's WarpTools export make them). Every
number comes from the core's particle table (``tomodrgn particle_table``)."""
from pwem.objects import Transform
from tomo.objects import SetOfCoordinates3D, SetOfTomograms, Tomogram

from .convert import acquisition_of, coordinate_of, matrix_of

# scipion-em-reliontomo's extra Coordinate3D attributes for RELION 5 (reliontomo.constants R5_*_ATTRIB)
R5_ATTRIBUTES = {"rlnAngleRot": "rln_rot", "rlnAngleTilt": "rln_tilt", "rlnAnglePsi": "rln_psi",
                 "rlnAngleTiltPrior": "tilt_prior", "rlnAnglePsiPrior": "psi_prior"}


def tomogram_records(path, info, rows) -> SetOfTomograms:
    """One Tomogram per tomogram the particles come from, at the particles' sampling: name (tsId), origin (minus
    half the tomogram, where the STAR gives its size) and the reconstruction's file where the STAR names one that
    exists. Without a file they are records (no dimensions): what the coordinates refer to."""
    tomos = SetOfTomograms.create(path, suffix="records")
    tomos.setSamplingRate(info["pixel_size"])
    tomos.setAcquisition(acquisition_of(rows[0]))
    for name, rec in info["tomograms"].items():
        tomo = Tomogram(location=rec["file"]) if rec["file"] else Tomogram()
        tomo.setTsId(name)
        tomo.setSamplingRate(info["pixel_size"])
        if rec["origin_angst"] is not None:
            origin = Transform()
            origin.setShifts(*rec["origin_angst"])
            tomo.setOrigin(origin)
        tomos.append(tomo)
    return tomos


def coordinate_set(path, rows, info, tomograms, relion: bool = False) -> SetOfCoordinates3D:
    """The particles' 3D coordinates (px at the particles' sampling, from the tomogram centre), in particle
    order, on ``tomograms``. Their matrix: the particle pose (the core's Scipion matrix); for ``relion`` sets
    as scipion-em-reliontomo's coordinate reader fills them: rlnTomoSubtomogram* in the matrix, rlnAngle* and
    priors as attributes (its RELION 5 writers read them there)."""
    import pyworkflow.object as pwobj
    coords = SetOfCoordinates3D.create(path)
    coords.setSamplingRate(info["pixel_size"])
    coords.setBoxSize(info["box"])
    coords.setPrecedents(tomograms)
    if relion:
        from reliontomo.convert.convert50_tomo import getCoordsTransformMatrixFromRow
        from tomo.constants import TR_RELION
    for row in rows:
        coord = coordinate_of(row)
        if relion:
            angles = {"rlnTomoSubtomogramRot": row.get("sub_rot") or 0, "rlnTomoSubtomogramTilt": row.get("sub_tilt") or 0,
                      "rlnTomoSubtomogramPsi": row.get("sub_psi") or 0}
            coord.setMatrix(getCoordsTransformMatrixFromRow(_StarRow(angles)), convention=TR_RELION)
            for attr, column in R5_ATTRIBUTES.items():
                setattr(coord, attr, pwobj.Float(float(row.get(column) or 0)))
        else:
            coord.setMatrix(matrix_of(row))
        coords.append(coord)
    return coords


class _StarRow(dict):
    """A particle-table row seen as an emtable row (``row.get(label, default)``), for reliontomo's readers."""

    def get(self, key, default=None):
        value = super().get(key, default)
        return float(value) if value not in (None, "") else default


def relion_pseudo_subtomograms(path, info, rows, coordinates):
    """scipion-em-reliontomo's RelionSetOfPseudoSubtomograms, made as its importers and scipion-em-warp's WarpTools
    export make it (createSetOfRelionPSubtomograms + readSetOfPseudoSubtomograms): every item attribute its STAR
    writer and RELION 5 protocols read is filled by reliontomo's own reader, from ``info['optimisation_set']``
    (a copy whose stacks are named by absolute path)."""
    from reliontomo.convert import readSetOfPseudoSubtomograms
    from reliontomo.objects import createSetOfRelionPSubtomograms
    out = createSetOfRelionPSubtomograms(path, info["optimisation_set"], coordinates,
                                         tsSamplingRate=info["tilt_series_pixel_size"], relionBinning=info["binning"],
                                         boxSize=info["box"], are2dStacks=True, acquisition=acquisition_of(rows[0]))
    out.setAreRe5Particles(True)
    readSetOfPseudoSubtomograms(out)
    return out
