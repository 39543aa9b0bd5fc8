#!/usr/bin/env bash
# Everything lfe checks only on a GPU, in one run of about 8 minutes: the CUDA tests, the Triton
# kernels compiled for real against their torch references, the kernel, ablation, analysis and
# extraction benchmarks. Usage, on a CUDA machine at the repo root:
#   bash benchmarks/gpu_check.sh [OUT_DIR]
# Wheels for packages the machine lacks may wait in .whl/ (installed to /tmp/site, no network).
set -uo pipefail
out=${1:-benchmarks/out}
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import torch, transformers, zarr; print('torch', torch.__version__, 'transformers', transformers.__version__, 'zarr', zarr.__version__)" | tee -a "$out/gpu.txt"
# each step has its own time limit, so one hang cannot eat the machine's whole lease
step() { local limit=$1; shift; timeout "$limit" "$@"; local rc=$?; [ $rc -eq 0 ] || echo "step failed (exit $rc): $*"; }
step 120 python3 -m pytest -q -p no:cacheprovider tests/engine/test_cuda.py 2>&1 | tee "$out/tests.txt" | tail -n 15
# the Triton kernels compiled for real (no interpreter), on CUDA tensors
TRITON_INTERPRET=0 LFE_TEST_DEVICE=cuda step 150 python3 -m pytest -q -p no:cacheprovider tests/kernels 2>&1 \
  | tee -a "$out/tests.txt" | tail -n 15
# first times every launch setting of the kernels named in SWEEP (default: pool and stats, about two
# minutes; SWEEP= for none) and keeps the fastest; then float32 rows, as `lfe analyze --device cuda` passes
sweep=${SWEEP-pool stats}
step 300 python3 benchmarks/bench_kernels.py --device cuda --dtype bfloat16 ${sweep:+--sweep $sweep} 2>&1 | tee "$out/kernels.txt"
step 90 python3 benchmarks/bench_kernels.py --device cuda --dtype float32 2>&1 | tee -a "$out/kernels.txt"
bench() { step 120 python3 benchmarks/bench_extract.py --device cuda --sids 100 --out "$out" "$@" 2>&1 | tee -a "$out/bench.txt"; }
step 120 python3 benchmarks/bench_ablate.py --device cuda --dtype bfloat16 --size medium --tokens 16384 --window 1024 2>&1 | tee "$out/ablate.txt"
step 120 python3 benchmarks/bench_analyze.py --device cuda --out "$out" 2>&1 | tee "$out/analyze.txt"
bench --size base --repeats 2
bench --size 1b --model /tmp/llama-1b --dtype bfloat16 --repeats 2 --store-dtype float16 --compression none --no-naive
