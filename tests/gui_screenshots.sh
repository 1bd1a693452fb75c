#!/usr/bin/env bash
# The demo project in the Scipion GUI, headless under Xvfb (Debian's xvfb package; installed here if missing):
# screenshots of the protocol tree, the train VAE form and the latent viewer in ./gui_screenshots/ (look at them).
# Not part of tests/run.sh (it needs the demo project: bash tests/demo.sh runs it first if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v Xvfb >/dev/null || { apt-get install -y -q xvfb || sudo apt-get install -y -q xvfb; }
[ -d demo_project/userdata/projects/tomodrgn_demo ] || bash tests/demo.sh
SCIPION_TMP="$PWD/demo_project"
. tests/scipion_env.sh
unset QT_QPA_PLATFORM
export MPLBACKEND=TkAgg DISPLAY=:${XVFB_DISPLAY:-97}
Xvfb "$DISPLAY" -screen 0 1600x1000x24 >/dev/null 2>&1 &
xvfb_pid=$!
trap 'kill $xvfb_pid' EXIT
sleep 2
.venv/bin/python tests/gui_screenshots.py tomodrgn_demo "$PWD/gui_screenshots" 2>&1 | tee gui_screenshots.log
