#!/usr/bin/env bash
# Everything lfe checks only on a GPU. Usage, on a CUDA machine at the repo root:
#   bash benchmarks/gpu_check.sh [OUT_DIR] [kernels|all]
# kernels (meant to take under 5 minutes; not yet timed on a GPU in this form): every Triton kernel
#   compiled for real and checked against its torch reference, the launch settings swept, the kernels
#   timed against torch eager and a device copy, and `lfe analyze --device cuda` timed;
# all (the default): then the engine's CUDA tests, the ablation and extraction benchmarks (each extraction
#   run prints engine / bare, lfe / nnsight when nnsight imports, and the store writer against a raw
#   file for its store dtype and compression), vLLM against the engine when vLLM imports (it says so when
#   not), and the torch.compile trial.
# nnsight is not on that machine: `pip download nnsight -d .whl` here (it and its pure-Python
#   dependencies; torch is already there) to have it compared.
# Each step prints its own time. Wheels for packages the machine lacks may wait in .whl/ (installed
# to /tmp/site, no network).
set -uo pipefail
out=${1:-benchmarks/out}
part=${2:-all}
case $part in kernels|all) ;; *) echo "usage: $0 [OUT_DIR] [kernels|all]" >&2; exit 2 ;; esac
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import torch, transformers, triton, zarr; print('torch', torch.__version__, 'transformers', transformers.__version__, 'triton', triton.__version__, 'zarr', zarr.__version__)" | tee -a "$out/gpu.txt"
# each step has its own time limit, well above its expected time, so one hang cannot eat the machine's lease
step() {
  local limit=$1 started=$SECONDS; shift
  timeout "$limit" "$@"; local rc=$?
  [ $rc -eq 0 ] || echo "step failed (exit $rc): $*"
  echo "step took $((SECONDS - started)) s: $*"
}

# the Triton kernels compiled for real (no interpreter), on CUDA tensors, against their references
# (test_aot, which compiles for an H100 without one, is the CPU suite's: here it would only repeat that)
TRITON_INTERPRET=0 LFE_TEST_DEVICE=cuda step 150 python3 -m pytest -q -p no:cacheprovider tests/kernels \
  --ignore=tests/kernels/test_aot.py 2>&1 \
  | tee "$out/tests.txt" | tail -n 15
# first times every launch setting of the kernels named in SWEEP (default: pool and stats; SWEEP= for
# none) and keeps the fastest, printing them as LAUNCH entries; then float32 rows, as
# `lfe analyze --device cuda` passes them
sweep=${SWEEP-pool stats}
step 300 python3 benchmarks/bench_kernels.py --device cuda --dtype bfloat16 ${sweep:+--sweep $sweep} 2>&1 | tee "$out/kernels.txt"
step 90 python3 benchmarks/bench_kernels.py --device cuda --dtype float32 2>&1 | tee -a "$out/kernels.txt"
step 120 python3 benchmarks/bench_analyze.py --device cuda --out "$out" 2>&1 | tee "$out/analyze.txt"
echo "kernel check: $SECONDS s in all" | tee -a "$out/kernels.txt"
[ "$part" = all ] || exit 0

step 120 python3 -m pytest -q -p no:cacheprovider tests/engine/test_cuda.py 2>&1 | tee -a "$out/tests.txt" | tail -n 15
bench() { step 120 python3 benchmarks/bench_extract.py --device cuda --sids 100 --out "$out" "$@" 2>&1 | tee -a "$out/bench.txt"; }
step 120 python3 benchmarks/bench_ablate.py --device cuda --dtype bfloat16 --size medium --tokens 16384 --window 1024 2>&1 | tee "$out/ablate.txt"
bench --size base --repeats 2
bench --size 1b --model /tmp/llama-1b --dtype bfloat16 --repeats 2 --store-dtype float16 --compression none --no-naive
# vLLM as the engine (lfe extract --backend vllm) against the transformers engine, rows compared, when it imports
if python3 -c "import vllm" >/dev/null 2>&1; then
  bench --size base --repeats 2 --backend vllm --no-naive
else
  echo "vLLM does not import here: the vLLM extraction benchmark did not run (pip install 'lfe[vllm]', or its wheels in .whl/)" \
    | tee -a "$out/bench.txt"
fi
step 180 python3 benchmarks/bench_compile.py --device cuda --dtype bfloat16 --hooks --size 1b --model /tmp/llama-1b --sids 100 2>&1 | tee "$out/compile.txt"
echo "gpu check: $SECONDS s in all"
