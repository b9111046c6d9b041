#!/usr/bin/env bash
# Mutation fuzzing of every loader (models, tokenizers, configs, data, adapters, checkpoints)
# through loft's own commands: every case must end in success or a one-line error naming the
# file — no crash, no hang. Failing inputs are kept in runs/fuzz/failures.
#
# CI (no arguments, seed 1) gives each target a budget by its cost: a case of a parser target
# (model files, tokenizers, adapters, quantize folders: about 5 ms) is cheap, so they get 3000;
# the targets whose cases run a command to its end get fewer — gsm8k-jsonl and text 1500 (an
# evaluation, ~25 ms), yaml 1000 (a training run), checkpoint 1000 (a resumed training run,
# ~85 ms: 171 s for 2000 on an AVX2 path), chat-jsonl 600 (a packed one-step chat run, ~170 ms).
# About 440 s in all on 2 cores (the targets before the chat ones: 340 s, seen on a Xeon,
# LOFT_SIMD=avx2). A longer local run, one count for every target:
#   scripts/fuzz.sh 20000 $RANDOM
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${2:-1}
if [[ $# -ge 1 ]]; then
  budget=(--cases "$1")
else
  budget=(--cases 3000 --cases-for gsm8k-jsonl=1500 --cases-for text=1500 --cases-for yaml=1000 --cases-for checkpoint=1000
          --cases-for chat-jsonl=600)
fi
.build/release/loft fuzz "${budget[@]}" --seed "$seed" --work runs/fuzz
