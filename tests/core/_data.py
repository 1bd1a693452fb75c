"""Where the test data lives: tests/data, copied from shared/fixtures (see tests/data/PROVENANCE.md).
No test reads anything outside the repository or a temporary folder."""
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
RELION5 = DATA / "relion5_warptools_small"
RELION5_STEM = "warptools_test_4-tomos_10-ptcls_box-32_angpix-12"
RELION5_OPT = RELION5 / f"{RELION5_STEM}_optimisation_set.star"
RELION5_MAP = RELION5 / "warptools_test_box-32_angpix-12_reconstruct.mrc"
CRYOSRPNT = DATA / "cryosrpnt_10076_classD"
CRYOSRPNT_CLEAN = CRYOSRPNT / "data/10076_classD_32_clean.star"
CRYOSRPNT_NOISY = CRYOSRPNT / "data/10076_classD_32_sim.star"
CRYOSRPNT_MAP = CRYOSRPNT / "data/10076_classD_32.mrc"
