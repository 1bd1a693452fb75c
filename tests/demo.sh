#!/usr/bin/env bash
# The demo (README): installs everything, then runs the tomoDRGN protocol chain in a real Scipion project
# (headless) on simulated data. The project stays in ./demo_project for the Scipion GUI.
set -euo pipefail
cd "$(dirname "$0")/.."
TOMODRGN_SKIP_PY38=1 bash tests/install.sh  # the demo needs only .venv (the plugin and the core in one Python)
SCIPION_TMP="$PWD/demo_project"
. tests/scipion_env.sh
exec .venv/bin/python -m tomodrgn_plugin.demo
