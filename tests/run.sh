#!/usr/bin/env bash
# The test command (README): installs everything into .venv, then runs the core tests (pytest) and the
# Scipion protocol tests (python -m scipion tests), and ends with one 'N passed, N failed' line.
# Exits non-zero if anything fails.
set -uo pipefail
cd "$(dirname "$0")/.."
bash tests/install.sh || exit 1
. tests/scipion_env.sh
LOGS=$(mktemp -d -t tomodrgn_tests.XXXXXX)
# an import error in a plugin is only logged by Scipion: fail loudly here first
.venv/bin/python -c "import tomodrgn_core, tomodrgn_plugin.protocols, tomodrgn_plugin.viewers" || exit 1

.venv/bin/python -m pytest tests/core -q -p no:cacheprovider --junitxml "$LOGS/core.xml" "$@" 2>&1 | tee "$LOGS/core.log"
core_rc=${PIPESTATUS[0]}
.venv/bin/python -m scipion tests tomodrgn_plugin.tests.test_protocols tomodrgn_plugin.tests.test_prepare_relion tomodrgn_plugin.tests.test_analyses 2>&1 | tee "$LOGS/plugin.log"
plugin_rc=${PIPESTATUS[0]}

.venv/bin/python - "$LOGS" <<'PY'
import re, sys, xml.etree.ElementTree as ET
logs = sys.argv[1]
suite = ET.parse(f"{logs}/core.xml").getroot()
suite = suite if suite.tag == "testsuite" else suite[0]
tests, fails = int(suite.get("tests")), int(suite.get("failures")) + int(suite.get("errors"))
skipped = int(suite.get("skipped", 0))
text = re.sub(r"\x1b\[[0-9;]*m", "", open(f"{logs}/plugin.log").read())
p_pass = sum(int(n) for n in re.findall(r"\[\s*PASSED\s*\]\s*(\d+) tests", text))
p_fail = sum(int(n) for n in re.findall(r"\[\s*FAILED\s*\]\s*(\d+) tests", text))
print(f"core (pytest): {tests - fails - skipped} passed, {fails} failed; Scipion protocol tests: {p_pass} passed, {p_fail} failed")
if p_pass + p_fail == 0:  # scipion exits 0 when it finds nothing: that is a failure here
    print("Scipion protocol tests: none ran")
    p_fail = 1
print(f"{tests - fails - skipped + p_pass} passed, {fails + p_fail} failed")
sys.exit(1 if fails + p_fail else 0)
PY
summary_rc=$?
if [ "$core_rc" -ne 0 ] || [ "$plugin_rc" -ne 0 ] || [ "$summary_rc" -ne 0 ]; then exit 1; fi
