#!/usr/bin/env bash
# Loft and the PyTorch + PEFT baseline (../shared/peer-bench) side by side on this machine:
# alternating rounds of bench-110m with tied embeddings (as the baseline's bench-110M), batch 4 × 256, LoRA r 16 on the seven linears, one JSON line per
# run on stdout (PyTorch's as bench_train.py prints them, Loft's `bench --json` squeezed to one line).
# Never in CI; nothing else should run meanwhile (2 cores).
# usage: scripts/bench-vs-pytorch.sh [ROUNDS]   (PEER=venv of ../shared/peer-bench/setup.sh, default /tmp/loft-peer-venv)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-2}"
peer="${PEER:-/tmp/loft-peer-venv}"
bench=../shared/peer-bench/bench_train.py
loft=.build/release/loft
[ -x "$peer/bin/python" ] || { echo "bench-vs-pytorch: no venv at $peer (run ../shared/peer-bench/setup.sh $peer)" >&2; exit 1; }
[ -x "$loft" ] || { echo "bench-vs-pytorch: $loft missing (run scripts/setup.sh)" >&2; exit 1; }
precisions="fp32"
grep -qw avx512_bf16 /proc/cpuinfo && precisions="fp32 bf16"   # autocast is only fast with AVX512-BF16 / AMX
squeeze() { python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)))'; }
echo "{\"machine\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\", \"openblas_coretype\": \"${OPENBLAS_CORETYPE:-}\", \"date\": \"$(date -u +%FT%TZ)\"}"
for round in $(seq "$rounds"); do
    for precision in $precisions; do
        for mode in lora qlora forward; do
            "$peer/bin/python" "$bench" --config bench-110M --mode "$mode" --precision "$precision" 2>/dev/null || true
        done
    done
    for compute in $precisions; do   # Loft's bf16: frozen products with bf16 inputs, fp32 sums (as autocast)
        for bits in 4 none; do
            "$loft" bench train-step --preset bench-110m --tied-embeddings --bits "$bits" --steps 5 --compute-dtype "$compute" --json | squeeze
        done
        for bits in 4 none; do
            "$loft" bench forward --preset bench-110m --tied-embeddings --bits "$bits" --steps 5 --compute-dtype "$compute" --json | squeeze
        done
    done
done
