#!/usr/bin/env bash
# Crash-resume check: trains stories260K once without interruption, then again while SIGKILLing
# it at random moments (start-up, mid-step, and on purpose inside checkpoint writes: the moment a
# temporary checkpoint folder appears), resuming with `--resume latest` after every kill. The
# final adapter must be byte-identical and every per-step loss equal to the uninterrupted run's.
# usage: scripts/crash-resume.sh [KILLS] [SEED]   (CI: 10 kills; locally e.g. 50)
set -euo pipefail
cd "$(dirname "$0")/.."
kills="${1:-10}"
RANDOM="${2:-7}"
loft=.build/release/loft
[ -x "$loft" ] || { echo "crash-resume: $loft missing (run scripts/setup.sh)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
settings=(--set training.max_steps=40 --set training.batch_size=4 --set checkpoint.every_steps=1 --set checkpoint.keep_last=2
          --set eval.every_steps=0 --set logging.every_steps=1 --set data.max_seq_len=128)

"$loft" train --config configs/wikitext2.yaml --runs-dir "$work/straight" --set name=run "${settings[@]}" 2>/dev/null

run_dir="$work/killed/run"
landed=0
in_write=0
for kill in $(seq "$kills"); do
    resume=()
    [ -f "$run_dir/checkpoints/latest" ] && resume=(--resume latest)
    "$loft" train --config configs/wikitext2.yaml --runs-dir "$work/killed" --set name=run "${settings[@]}" "${resume[@]}" \
        2>>"$work/killed.log" &
    pid=$!
    if (( kill % 2 == 0 )); then
        # aim at a checkpoint write: kill as soon as a temporary checkpoint folder exists
        for _ in $(seq 2000); do
            compgen -G "$run_dir/checkpoints/.step-*.tmp-*" >/dev/null && break
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.002
        done
    else
        sleep "0.$(( RANDOM % 9 ))$(( RANDOM % 10 ))"   # 0.00 … 0.99 s: start-up or mid-step
    fi
    if kill -9 "$pid" 2>/dev/null; then landed=$((landed + 1)); fi
    wait "$pid" 2>/dev/null || true
    compgen -G "$run_dir/checkpoints/.step-*.tmp-*" >/dev/null && in_write=$((in_write + 1))
done
resume=()
[ -f "$run_dir/checkpoints/latest" ] && resume=(--resume latest)
"$loft" train --config configs/wikitext2.yaml --runs-dir "$work/killed" --set name=run "${settings[@]}" "${resume[@]}" 2>>"$work/killed.log"

python3 - "$work/straight/run" "$run_dir" "$landed" "$kills" "$in_write" <<'PY'
import json, pathlib, sys
straight, killed, landed, kills, in_write = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def losses(run):
    latest = (run / "checkpoints" / "latest").read_text().strip()
    return json.loads((run / "checkpoints" / latest / "trainer_state.json").read_text())["losses"]
a, b = losses(straight), losses(killed)
same_adapter = (straight / "final/adapter_model.safetensors").read_bytes() == (killed / "final/adapter_model.safetensors").read_bytes()
print(f"crash-resume: {landed} of {kills} kills landed before the run ended, {in_write} inside a checkpoint write; {len(b)} steps; "
      f"losses equal: {a == b}; final adapter byte-identical: {same_adapter}")
sys.exit(0 if a == b and len(a) == 40 and same_adapter else 1)
PY
