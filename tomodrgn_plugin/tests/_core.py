"""Test helpers that need the core. The core may live in another Python than Scipion's (Plugin.getPython()):
commands run there as ``python -m tomodrgn_core``, and checks as short scripts whose last line printed is JSON."""
import json
import re
import subprocess
import textwrap
from pathlib import Path

from .. import Plugin


def core(*args) -> str:
    """stdout of ``tomodrgn <args>`` in the core's Python; a failure raises with the core's message."""
    out = subprocess.run([Plugin.getPython(), "-m", "tomodrgn_core", *map(str, args)], capture_output=True,
                         text=True, env=dict(Plugin.getCoreEnviron(), OMP_NUM_THREADS="1"))
    if out.returncode:
        raise AssertionError(f"tomodrgn {' '.join(map(str, args))} failed: {out.stderr.strip()[-2000:]}")
    return out.stdout


def core_eval(code: str, **inputs):
    """Run ``code`` in the core's Python with ``inputs`` as variables (JSON values); it sets ``result`` (any
    JSON-able value: numpy arrays and numbers are converted), which is returned."""
    script = ("import json, sys\nimport numpy as np\nglobals().update(json.loads(sys.argv[1]))\n"
              + textwrap.dedent(code) +
              "\nprint(json.dumps(result, default=lambda o: o.tolist() if hasattr(o, 'tolist') else str(o)))\n")
    out = subprocess.run([Plugin.getPython(), "-c", script, json.dumps(inputs)], capture_output=True, text=True,
                         env=dict(Plugin.getCoreEnviron(), OMP_NUM_THREADS="1", MPLBACKEND="Agg"))
    if out.returncode:
        raise AssertionError(f"core check failed: {out.stderr.strip()[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def simulate(outdir, **options) -> dict:
    """``tomodrgn simulate`` into ``outdir``: {'warp': star, 'relion5': optimisation set, 'labels': labels.npy,
    'volumes': [class_XX.mrc, ...]} as simulate_dataset returns them."""
    args = ["simulate", "-o", outdir, "--force"]
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", value]
    text = core(*args)
    out = {key: Path(path) for key, path in re.findall(r"^(warp|relion5) particles: (.+)$", text, re.M)}
    truth = Path(outdir) / "ground_truth"
    out.update(labels=truth / "labels.npy", volumes=sorted(truth.glob("class_??.mrc")))
    return out


STAR_LOCATIONS = """
from tomodrgn_core.io import load_particles, schema as S
t = load_particles(star).table
key = t[S.TILT_ANGLE].abs()
first = t.loc[key.groupby(t[S.PARTICLE_INDEX]).idxmin()]
result = {int(r[S.PARTICLE_INDEX]): [int(r[S.IMAGE_INDEX]) + 1, str(r[S.IMAGE_PATH])] for _, r in first.iterrows()}
"""


def star_locations(star) -> dict:
    """{particle row: (1-based image index, stack)} of each particle's tilt image nearest 0 degrees in a STAR, as
    the import protocol locates its items: how a set's items are matched with the STAR it points at."""
    return {int(k): tuple(v) for k, v in core_eval(STAR_LOCATIONS, star=str(star)).items()}
