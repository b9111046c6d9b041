#!/usr/bin/env bash
# One epoch of GSM8K-as-chat on SmolLM2-135M-Instruct (LoftQ-4, r 16; configs/smollm2-chat.yaml)
# with and without packing, on the first LIMIT conversations (default 128; by hand, not in CI).
# Prints, for each, the optimizer steps, the training time of the epoch (the last step's
# elapsed_seconds: the LoftQ set-up before it is not counted) and the real tokens per second.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${LIMIT:-128}
for packing in false true; do
    name="packing-epoch-$packing"
    rm -rf "runs/$name"
    .build/release/loft train --config configs/smollm2-chat.yaml --set name="$name" --set data.packing="$packing" \
        --set data.limit_train="$limit" --set training.max_steps=0 --set training.epochs=1 \
        --set eval.every_steps=0 --set eval.max_batches=1 --set checkpoint.every_steps=0 \
        --set logging.every_steps=1 > "runs/$name.log" 2>&1
    python3 - "$name" "$packing" <<'PY'
import json, sys
name, packing = sys.argv[1], sys.argv[2]
steps = [json.loads(l) for l in open(f"runs/{name}/metrics.jsonl") if '"kind":"train"' in l]
last = steps[-1]
print(f"packing {packing}: {last['step']} steps, epoch {last['elapsed_seconds']:.1f} s of training, "
      f"{last['tokens_per_second']:.0f} real (non-padding) tokens/s")
PY
done
