#!/usr/bin/env bash
# Start errors of LoftQ against the activation-aware LoftQ (issue 32) on SmolLM2-135M: for each
# width and start, `loft quantize` with the same calibration (WikiText-2 validation text), the
# average weight error and activation-weighted error of the start, and the set-up's wall time and
# peak RSS. Resumable: a finished cell (its folder's JSON) is not run again.
#   scripts/loftq-aware-start.sh [SAMPLES] [SEQ_LEN]      # writes runs/loftq-aware-start/table.md
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-32}
length=${2:-512}
model=data/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
out=runs/loftq-aware-start
mkdir -p "$out"
for bits in 4 2; do
  for start in gaussian:exact loftq:exact loftq_aware:exact loftq_aware:diagonal; do
    init=${start%%:*}
    form=${start##*:}
    cell="$out/b$bits-$init-$form"
    [ -f "$cell.json" ] && continue
    rm -rf "$cell"
    .build/release/loft quantize --model "$model" --bits "$bits" --rank 16 --alpha 16 --init "$init" \
      --calibration-data data/wikitext-2-raw/wiki.valid.raw --calibration-samples "$samples" \
      --calibration-seq-len "$length" --calibration-form "$form" --out "$cell" --json > "$cell.json.partial"
    mv "$cell.json.partial" "$cell.json"
    rm -rf "$cell"   # the folder (≈ 100 MB) is not kept; its report is
  done
done
python3 - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
rows = ["| bits | start | weight error: plain → start | activation error: plain → start | set-up s | calibration s | peak RSS MiB |",
        "| --- | --- | --- | --- | --- | --- | --- |"]
for path in sorted(glob.glob(f"{out}/*.json")):
    j = json.load(open(path)); r = j["report"]; c = r.get("calibration") or {}
    name = os.path.basename(path)[:-5]
    bits, init, form = name.split("-", 2)
    label = init + (f" ({form})" if init == "loftq_aware" else "")
    rows.append(f"| {bits[1:]} | {label} | {r['average_plain_error']:.4f} → {r['average_init_error']:.4f} | "
                f"{r['average_activation_plain_error']:.4f} → {r['average_activation_init_error']:.4f} | "
                f"{r['seconds']:.1f} | {c.get('seconds', 0):.1f} | {j['peak_rss_bytes'] / 1048576:.0f} |")
open(f"{out}/table.md", "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
