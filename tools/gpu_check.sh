#!/usr/bin/env bash
# The CUDA checks, in one run on a machine with a GPU (docs/how-to/gpu.md).
#
#   OUT=gpu-results bash tools/gpu_check.sh
#
# It installs the project from this tree into the machine's own Python (no downloads: torch with CUDA,
# numpy, pytest and Hypothesis must already be there), runs the suite's CUDA tests, runs the audit on
# CUDA with PyTorch's default precision settings and again with TF32 off, times the twins on the GPU
# against the CPU with a probe of the matmul precision torch really used, and writes every report
# under $OUT (default ./gpu-results). Each step runs even if an earlier one failed; the exit status
# is that of the first step that failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HYPOTHESIS_PROFILE=ci
status=0
step() {  # step NAME COMMAND...: run one step, log it, remember the first failure
    local name=$1; shift
    echo "=== $name: $*"
    "$@" 2>&1 | tee "$OUT/$name.log"
    local code=${PIPESTATUS[0]}
    echo "=== $name: exit $code"
    if [ "$status" -eq 0 ] && [ "$code" -ne 0 ]; then status=$code; fi
}
audit_without_tf32() {
    python3 - "$@" <<'PY'
import sys
import torch
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")
from oracle.cli import main
sys.exit(main(sys.argv[1:]))
PY
}
step install python3 -m pip install --no-deps --no-build-isolation --no-index -e .
step versions python3 -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'cudnn', torch.backends.cudnn.version(), 'numpy', numpy.__version__); print(torch.cuda.get_device_name(0))"
step cuda_tests python3 -m pytest -q -p no:cacheprovider -k cuda tests/
step audit_tf32_default python3 -m oracle audit --device cuda --json "$OUT/audit_cuda_default.json"
step audit_tf32_off audit_without_tf32 audit --device cuda --json "$OUT/audit_cuda_tf32_off.json"
step twin_timing python3 tools/twin_timing.py --devices cpu cuda --json "$OUT/twin_timing.json"
exit "$status"
