#!/usr/bin/env bash
# Create the test environments and install the plugin with everything it needs. Idempotent (cached folders):
#   .venv    Python 3.11, plugin + core in one Python (the demo, the core tests, most plugin tests)
#   .venv38  Python 3.8 (the Scipion installer's default): the plugin and the Scipion packages, no torch; the core in
#            its own Python 3.11 made by the plugin's own `scipion installb tomodrgn` (.venv38/em/tomodrgn-<version>)
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/find_python.sh
PY=${PYTHON:-$(find_python 3.11)}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# CPU build of torch pinned HERE (not in setup.py): on GPU clusters install your CUDA build instead.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q torch==2.13.0
# constraints = the versions this project is tested with; setup.py's own bounds resolve without them
# (tests/check_install.sh proves it on every supported Python)
.venv/bin/python -m pip install -q -c tests/constraints.txt -e ".[core,test]"

[ "${TOMODRGN_SKIP_PY38:-0}" = 1 ] && exit 0
PY38=${PYTHON38:-$(find_python 3.8)}
[ -x .venv38/bin/python ] || "$PY38" -m venv .venv38
.venv38/bin/python -m pip install -q --upgrade pip
.venv38/bin/python -m pip install -q -c tests/constraints38.txt -e ".[test]"
if .venv38/bin/python -c "import torch" 2>/dev/null; then echo "torch must not be in .venv38" >&2; exit 1; fi
# the core's own Python, made as users make it: `scipion installb tomodrgn` (the plugin's defineBinaries), with the
# CPU torch wheel this machine has for Python 3.11
core_flag=.venv38/em/tomodrgn-$(.venv38/bin/python -c "import tomodrgn_plugin as p; print(p.__version__)")/venv/tomodrgn-core-installed
if [ ! -e "$core_flag" ]; then
  (SCIPION_VENV=.venv38 SCIPION_TMP=$(mktemp -d -t tomodrgn_installb.XXXXXX)
   . tests/scipion_env.sh
   TOMODRGN_BASE_PYTHON=$PY TOMODRGN_TORCH="torch==2.13.0" .venv38/bin/python -m scipion installb tomodrgn -j 1
   rm -rf "$SCIPION_TMP")
  [ -e "$core_flag" ] || { echo "scipion installb tomodrgn did not install the core" >&2; exit 1; }
fi
