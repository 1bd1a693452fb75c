"""The canonical particle table: the contract between every reader, the core and the plugin.

One row per tilt image, rows of one particle contiguous, particles in input order.
Columns (units in the name's comment); ``REQUIRED`` must be present after any reader.
"""

# identity
PARTICLE_INDEX = "particle_index"  # int, 0..N-1 in input order (row order of z files)
PARTICLE_ID = "particle_id"        # str, unique per particle, e.g. "Unt_083/1" or rlnGroupName
TOMO_ID = "tomo_id"                # str, tomogram name
# image source
IMAGE_PATH = "image_path"          # str, absolute path of the .mrcs stack
IMAGE_INDEX = "image_index"        # int, 0-based slice in that stack
PIXEL_SIZE = "pixel_size"          # A/px
BOX = "box"                        # px (square images)
# pose of this tilt image (particle orientation composed with the stage tilt), RELION ZYZ degrees
ROT, TILT, PSI = "rot", "tilt", "psi"
SHIFT_X, SHIFT_Y = "shift_x", "shift_y"  # A, RELION rlnOrigin{X,Y}Angst convention
# CTF
DEFOCUS_U, DEFOCUS_V, DEFOCUS_ANGLE = "defocus_u", "defocus_v", "defocus_angle"  # A, A, deg
VOLTAGE, CS, AMP_CONTRAST, PHASE_SHIFT = "voltage", "cs", "amp_contrast", "phase_shift"  # kV, mm, -, deg
# tomography
DOSE = "dose"                      # cumulative exposure of this tilt, e/A^2
TILT_ANGLE = "tilt_angle"          # stage tilt, degrees
TILT_WEIGHT = "tilt_weight"        # cos(tilt) (rlnCtfScalefactor), used as-is as loss weight
VISIBLE = "visible"                # bool
# optional, per particle, for subset export / ChimeraX placement
COORD_X, COORD_Y, COORD_Z = "coord_x", "coord_y", "coord_z"  # tomogram position, A
SOURCE_ROW = "source_row"          # int, row of the particle in the source STAR's particle block

REQUIRED = [PARTICLE_INDEX, PARTICLE_ID, TOMO_ID, IMAGE_PATH, IMAGE_INDEX, PIXEL_SIZE, BOX,
            ROT, TILT, PSI, SHIFT_X, SHIFT_Y, DEFOCUS_U, DEFOCUS_V, DEFOCUS_ANGLE, VOLTAGE, CS,
            AMP_CONTRAST, PHASE_SHIFT, DOSE, TILT_ANGLE, TILT_WEIGHT, VISIBLE]

# added by the particle I/O (optional columns every reader fills)
SOURCE_IMAGE_ROW = "source_image_row"  # int, 0-based row of this tilt image in the source STAR's image
                                       # block (Warp/cryoSRPNT); -1 for RELION 5 (one row per particle)
FRAME = "frame"                    # int, 0-based tilt frame of the tilt series (RELION 5: row of the
                                   # tomogram block and slice of the 2D stack); Warp: position in its group

# bool, rlnCtfDataAreCtfPremultiplied: the image was multiplied by its CTF on export (WarpTools 2D stacks), so it
# holds CTF^2 x signal; False where the source does not say
CTF_PREMULTIPLIED = "ctf_premultiplied"

OPTIONAL = [COORD_X, COORD_Y, COORD_Z, SOURCE_ROW, SOURCE_IMAGE_ROW, FRAME, CTF_PREMULTIPLIED]
ALL_COLUMNS = REQUIRED + OPTIONAL
SOURCES = ("warp", "cryosrpnt", "relion5")
