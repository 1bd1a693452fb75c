"""Run a core command from a protocol step (in the core's own Python), so that a failure says what the core said;
and read back the particle tables the core writes."""
import os

import pyworkflow.utils as pwutils

from .. import Plugin

ERROR_FILE_VAR = "TOMODRGN_ERROR_FILE"  # the core CLI writes its one-line error there too (tomodrgn_core.cli)


def run_core(prot, args: str, env=None) -> None:
    """``prot.runJob`` of ``<core python> <args>`` (args from Plugin.getProgram). A failed command is raised with
    the core's own one-line error (file, row, fix), which Scipion then shows as the run's error, instead of only
    "Command ... returned non-zero exit status 2"."""
    env = pwutils.Environ(Plugin.getCoreEnviron(env))
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


def particle_table(prot, star: str, source: str = "auto", name: str = "particle_table", datadir=None) -> tuple:
    """(rows, summary) of ``tomodrgn particle_table`` on ``star``, written in the run's extra folder."""
    from ..convert import read_table
    out = os.path.abspath(prot._getExtraPath(f"{name}.csv"))
    extra = f' --datadir "{datadir}"' if datadir else ""
    run_core(prot, f'{Plugin.getProgram("particle_table")} "{star}" --source-software {source}{extra} '
                   f'-o "{out}" --overwrite')
    return read_table(out)


def set_names(prot, in_set):
    """{rlnTomoParticleName: STAR row} for a set whose items come from another plugin (None for ours)."""
    from ..convert import needs_names, particle_names, star_of
    if not needs_names(in_set):
        return None
    star, source = star_of(in_set)
    return particle_names(particle_table(prot, star, source, name="input_particle_table")[0])
