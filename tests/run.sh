#!/usr/bin/env bash
# The test command (README): installs everything into .venv, then runs core + Scipion protocol tests.
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install.sh
. tests/scipion_env.sh
.venv/bin/python -c "import tomodrgn_core"
.venv/bin/python -m pytest tests/core -q -p no:cacheprovider "$@"
