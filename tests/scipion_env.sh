# Sourced by tests/run.sh and the demo: keeps Scipion away from $HOME (temp folders, CPU, headless).
# SCIPION_VENV picks the Scipion environment: .venv (Python 3.11, the core in the same Python) or .venv38 (Python
# 3.8 without torch; the core in the Python `scipion installb tomodrgn` made under .venv38/em, EM_ROOT).
SCIPION_VENV=${SCIPION_VENV:-.venv}
SCIPION_TMP=${SCIPION_TMP:-$(mktemp -d -t tomodrgn_scipion.XXXXXX)}
export SCIPION_HOME="$SCIPION_TMP/home" SCIPION_USER_DATA="$SCIPION_TMP/userdata"
export SCIPION_DOMAIN=pwem SCIPION_PYTHON="$PWD/$SCIPION_VENV/bin/python" SCIPION_TESTS="$SCIPION_TMP/tests"
export SCIPION_NOTIFY=False MPLBACKEND=Agg QT_QPA_PLATFORM=offscreen
export EM_ROOT="$PWD/$SCIPION_VENV/em"
mkdir -p "$SCIPION_HOME/config" "$SCIPION_USER_DATA" "$SCIPION_TESTS" "$EM_ROOT"
printf '[localhost]\nPARALLEL_COMMAND = mpirun -np %%_(JOB_NODES)d %%_(COMMAND)s\n' > "$SCIPION_HOME/config/hosts.conf"
export SCIPION_HOSTS="$SCIPION_HOME/config/hosts.conf" SCIPION_CONFIG="$SCIPION_HOME/config/scipion.conf"
