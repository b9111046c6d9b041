#!/usr/bin/env bash
# Mutation fuzzing of every loader (models, tokenizers, configs, data, adapters, checkpoints)
# through loft's own commands: every case must end in success or a one-line error naming the
# file — no crash, no hang. CI runs 2000 cases per target with seed 1; for a longer local run:
#   scripts/fuzz.sh 20000 $RANDOM          (failing inputs are kept in runs/fuzz/failures)
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-2000}
seed=${2:-1}
.build/release/loft fuzz --cases "$cases" --seed "$seed" --work runs/fuzz
