# Sourced by tests/run.sh and the demo: keeps Scipion away from $HOME (temp folders, CPU, headless).
SCIPION_TMP=${SCIPION_TMP:-$(mktemp -d -t tomodrgn_scipion.XXXXXX)}
export SCIPION_HOME="$SCIPION_TMP/home" SCIPION_USER_DATA="$SCIPION_TMP/userdata"
export SCIPION_DOMAIN=pwem SCIPION_PYTHON="$PWD/.venv/bin/python" SCIPION_TESTS="$SCIPION_TMP/tests"
export SCIPION_NOTIFY=False MPLBACKEND=Agg QT_QPA_PLATFORM=offscreen
mkdir -p "$SCIPION_HOME/config" "$SCIPION_USER_DATA" "$SCIPION_TESTS"
printf '[localhost]\nPARALLEL_COMMAND = mpirun -np %%_(JOB_NODES)d %%_(COMMAND)s\n' > "$SCIPION_HOME/config/hosts.conf"
export SCIPION_HOSTS="$SCIPION_HOME/config/hosts.conf" SCIPION_CONFIG="$SCIPION_HOME/config/scipion.conf"
