#!/usr/bin/env bash
# Create .venv (Python 3.11) and install the plugin with everything it needs. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# CPU build of torch pinned HERE (not in setup.py): on GPU clusters install your CUDA build instead.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q torch==2.13.0
# constraints = the versions this project is tested with (a free resolution backtracks into sdists that
# fail to build, e.g. old tifffile); setup.py itself stays unpinned for users' own environments
.venv/bin/python -m pip install -q -c tests/constraints.txt -e ".[test]"
