#!/usr/bin/env bash
# The shipped chat example end to end (by hand, not in CI; ≈ 1 hour on 2 cores): GSM8K accuracy of
# SmolLM2-135M-Instruct in chat form before fine-tuning, the LoftQ-4 chat fine-tune of
# configs/smollm2-chat.yaml, and the accuracy after. Rerun to continue: finished parts are skipped,
# training resumes from its latest checkpoint. Results in runs/chat-example/.
set -euo pipefail
cd "$(dirname "$0")/.."
loft=.build/release/loft
model=data/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
out=runs/chat-example
limit=${LIMIT:-200}
mkdir -p "$out"
if [ ! -f "$out/before.json" ]; then
    "$loft" eval --gsm8k --chat --model "$model" --limit "$limit" --batch 16 --out "$out/before.jsonl" --json \
        > "$out/before.json.partial"
    mv "$out/before.json.partial" "$out/before.json"
fi
if [ ! -d runs/smollm2-chat/final ]; then
    resume=()
    [ -d runs/smollm2-chat/checkpoints ] && resume=(--resume latest)
    "$loft" train --config configs/smollm2-chat.yaml "${resume[@]}" 2>&1 | tee -a "$out/train.log"
fi
if [ ! -f "$out/after.json" ]; then
    "$loft" eval --gsm8k --chat --model runs/smollm2-chat --limit "$limit" --batch 16 --out "$out/after.jsonl" --json \
        > "$out/after.json.partial"
    mv "$out/after.json.partial" "$out/after.json"
fi
echo "before: $(cat "$out/before.json" | tr -d '\n')"
echo "after:  $(cat "$out/after.json" | tr -d '\n')"
