"""Run a core command from a protocol step, so that a failure says what the core said."""
import os

import pyworkflow.utils as pwutils

from .. import Plugin

ERROR_FILE_VAR = "TOMODRGN_ERROR_FILE"  # the core CLI writes its one-line error there too (tomodrgn_core.cli)


def run_core(prot, args: str, env=None) -> None:
    """``prot.runJob`` of ``python <args>`` (args from Plugin.getProgram). A failed command is raised with the
    core's own one-line error (file, row, fix), which Scipion then shows as the run's error, instead of only
    "Command ... returned non-zero exit status 2"."""
    env = env if env is not None else pwutils.Environ(os.environ)
    error_file = os.path.abspath(prot._getExtraPath("last_error.txt"))
    if os.path.exists(error_file):
        os.remove(error_file)
    env[ERROR_FILE_VAR] = error_file
    try:
        prot.runJob(Plugin.getPython(), args, env=env)
    except Exception:
        if os.path.isfile(error_file):
            with open(error_file) as f:
                raise RuntimeError(f.read().strip()) from None
        raise
