#!/usr/bin/env bash
# One prepared run on a lent GPU machine: the CUDA-parametrised property tests, the quick
# verify of every claim on CUDA and the per-weight subset-sum timing on CUDA. Outputs land in $OUT
# (or results/gpu when OUT is unset).
# Uses the machine's python3 with PYTHONPATH (no install needed there).
set -uo pipefail
out=${OUT:-results/gpu}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 HYPOTHESIS_PROFILE=ci
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/gpu.txt"
timeout ${TEST_S:-130} python3 -m pytest -q -p no:cacheprovider tests -k "cuda" 2>&1 | tail -30 > "$out/cuda_tests.txt"
cat "$out/cuda_tests.txt"
timeout ${VERIFY_S:-170} python3 -m lth.cli verify --scale quick --device cuda --no-progress \
    --out "$out/verify" > "$out/verify.txt" 2>&1
cat "$out/verify.txt"
# issue 31: the per-weight workload (397,000 pools of n = 21, public API, torch backend) timed on CUDA
timeout ${BENCH_S:-150} python3 benchmarks/bench_subset_sum.py --quick --device cuda --parts per-weight \
    --out "$out/subset_sum_cuda.json" > "$out/subset_sum_cuda.txt" 2>&1
tail -12 "$out/subset_sum_cuda.txt"
