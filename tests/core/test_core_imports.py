"""The core never needs Scipion, and ``import tomodrgn_core`` stays light (no GUI/plotting libraries)."""
import json
import os
import subprocess
import sys

BLOCK_SCIPION = "import sys\nfor n in ('pyworkflow', 'pwem', 'tomo', 'reliontomo'):\n    sys.modules[n] = None\n"


def _run(code: str) -> dict:
    env = dict(os.environ, MPLBACKEND="Agg")
    out = subprocess.run([sys.executable, "-c", BLOCK_SCIPION + code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_core_without_scipion_is_light():
    res = _run("import json\nimport tomodrgn_core\n"
               "heavy = ('matplotlib', 'tkinter', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'umap', 'sklearn',"
               " 'pyworkflow', 'pwem', 'tomo')\n"
               "print(json.dumps(sorted(m for m in heavy if sys.modules.get(m) is not None)))")
    assert res == []


def test_every_core_submodule_imports_without_scipion():
    res = _run("import json, pkgutil, importlib, tomodrgn_core\n"
               "failed = {}\n"
               "for m in pkgutil.walk_packages(tomodrgn_core.__path__, 'tomodrgn_core.'):\n"
               "    if m.name.endswith('__main__'): continue  # runs the CLI on import\n"
               "    try:\n"
               "        importlib.import_module(m.name)\n"
               "    except Exception as e:\n"
               "        failed[m.name] = f'{type(e).__name__}: {e}'\n"
               "scipion = [n for n in ('pyworkflow', 'pwem', 'tomo') if sys.modules.get(n) is not None]\n"
               "print(json.dumps({'failed': failed, 'scipion': scipion, 'n': len(list(pkgutil.walk_packages("
               "tomodrgn_core.__path__, 'tomodrgn_core.')))}))")
    assert res["failed"] == {} and res["scipion"] == []
    assert res["n"] >= 10  # the io and physics packages at least were walked


def test_io_import_does_not_need_torch_heavy_parts():
    res = _run("import json\nimport tomodrgn_core.io\n"
               "print(json.dumps([m for m in ('matplotlib', 'sklearn', 'umap') if sys.modules.get(m) is not None]))")
    assert res == []
