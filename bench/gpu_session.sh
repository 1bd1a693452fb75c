#!/usr/bin/env bash
# What a session with a GPU lent should run for issue 6, one part per device call (each well under 10 min):
#   bash bench/gpu_session.sh check             # bench/gpu_check.py: fast paths vs eager, ms per batch-1 step
#   bash bench/gpu_session.sh bench [FLAGS]     # bench/benchmark.py --preset gpu [--cuda-graph | --compile]
#                                               # [--fp32: float32 + TF32 instead of bf16 autocast]
# Missing packages travel as wheels in .whl/ (see /work/.library/device/README.md); logs go to $OUT if set.
set -uo pipefail
cd "$(dirname "$0")/.."
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1
out=${OUT:-$(mktemp -d)}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
part=${1:-check}
shift || true
case "$part" in
    check) python3 bench/gpu_check.py "$@" 2>&1 | tee "$out/gpu_check.txt" ;;
    bench) python3 bench/benchmark.py --preset gpu --epochs 3 "$@" 2>&1 | tee "$out/bench${*// /}.txt" ;;
    *) echo "usage: bash bench/gpu_session.sh check|bench [flags]"; exit 2 ;;
esac
