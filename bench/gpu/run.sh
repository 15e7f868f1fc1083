#!/usr/bin/env bash
# The GPU check's entry on the GPU machine (docs/scaling.md): install the carried wheels (make wheelhouse, here)
# without a network, then run bench/gpu/check.py into $OUT (the device tool returns what is written there).
#   bash bench/gpu/run.sh [check.py options]      # from the repository root, with wheelhouse/ carried
set -u
cd "$(dirname "$0")/../.." || exit 1
PY=${PYTHON:-python3}
if ! ls wheelhouse/*.whl >/dev/null 2>&1; then
  echo "no wheelhouse/*.whl: run 'make wheelhouse' on the CPU machine and carry wheelhouse (docs/scaling.md)"; exit 2
fi
SITE=${GPU_CHECK_SITE:-/tmp/dvao-site}
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" wheelhouse/*.whl \
  || { echo "installing the wheelhouse failed: it holds wheels for Python $(sed -n 's/.*"python": "\([0-9.]*\)".*/\1/p' wheelhouse/manifest.json) \
and this is $("$PY" --version); set PYTHON in bench/gpu/wheelhouse.py and run make wheelhouse again"; exit 3; }
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 WANDB_MODE=disabled PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
exec "$PY" bench/gpu/check.py --out "${OUT:-reports/gpu-check}" "$@"
