#!/usr/bin/env bash
# A plain `pip install -e .` (no constraints file) must resolve in a fresh venv of every supported Python, and
# `pip install -e ".[core]"` on the core's Python 3.11: pip --dry-run, so nothing is installed. Prints one line per
# Python; exits non-zero if any fails (their logs are kept in $LOGS).
set -uo pipefail
cd "$(dirname "$0")/.."
. tests/find_python.sh
LOGS=${LOGS:-$(mktemp -d -t tomodrgn_install_check.XXXXXX)}
WORK=$(mktemp -d -t tomodrgn_fresh_venv.XXXXXX)
fail=0
check() {  # check VERSION LABEL pip-arguments...
  local v=$1 label=$2; shift 2
  local py venv="$WORK/$v" t0=$SECONDS
  py=$(find_python "$v") || { echo "Python $v ($label): not found"; fail=1; return; }
  [ -x "$venv/bin/python" ] || { "$py" -m venv "$venv" && "$venv/bin/python" -m pip install -q --upgrade pip; } >/dev/null 2>&1
  if "$venv/bin/python" -m pip install --dry-run "$@" > "$LOGS/install_$v$label.log" 2>&1; then
    echo "Python $v: pip install $* resolves ($(( SECONDS - t0 )) s): $(grep -o 'scipion-em-tomo-[0-9.]*\|torch-[0-9.a-z+]*' "$LOGS/install_$v$label.log" | tr '\n' ' ')"
  else
    echo "Python $v: pip install $* FAILS (log: $LOGS/install_$v$label.log): $(grep -i error "$LOGS/install_$v$label.log" | head -1)"
    fail=1
  fi
}
for v in 3.8 3.10 3.11 3.12; do check "$v" "" -e .; done
# the core's requirements (scipion installb / one environment), with the CPU torch wheel of this machine
check 3.11 "-core" -e ".[core]" "torch==2.13.0"
rm -rf "$WORK"
exit $fail
