#!/usr/bin/env bash
# Data parallelism on this machine: one rank with every core against one rank per core (MPI),
# SmolLM2-135M NF4, the same global batch (4 × 256 tokens), bf16 products. Prints the median step
# time, the median all-reduce time (including waiting for the slower rank) and its share, and the
# wall time of the whole command (the LoftQ set-up is split over the ranks). Not a test: run it on
# a quiet machine (needs python3, bc and GNU time: apt-get install bc time).   scripts/scaling.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-8}
out=runs/scaling
rm -rf "$out" && mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common=(train --config configs/smollm2-wikitext2.yaml --set "training.max_steps=$steps" --set eval.every_steps=0
        --set checkpoint.every_steps=0 --set logging.every_steps=1 --set training.compute_dtype=bf16 --set lora.loftq_iters=2)
cores=$(nproc)
run() {  # name, command...
    local name=$1; shift
    local start=$(date +%s.%N)
    "$@" > "$out/$name.log" 2>&1
    echo "$name $(echo "$(date +%s.%N) - $start" | bc)" >> "$out/wall.txt"
}
rss=(/usr/bin/time -f "peak_rss_kb %M")   # per process: under mpirun, one line per rank
run "1x$cores" "${rss[@]}" .build/release/loft "${common[@]}" --runs-dir "$out/1x$cores"
run "${cores}x1" mpirun -np "$cores" --bind-to core "${rss[@]}" .build/release/loft "${common[@]}" --runs-dir "$out/${cores}x1"
python3 - "$out" <<'PY'
import json, statistics, sys
out = sys.argv[1]
walls = dict(line.split() for line in open(f"{out}/wall.txt"))
print("| ranks × threads | median step s | median all-reduce s | all-reduce share | tokens/s | wall s (incl. LoftQ set-up) | peak RSS per rank, total GiB |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for name in walls:
    rows = [json.loads(l) for l in open(f"{out}/{name}/smollm2-wikitext2/metrics.jsonl") if '"train"' in l]
    rows = rows[1:]  # the first step warms up
    elapsed = [r["elapsed_seconds"] for r in rows]
    steps = [b - a for a, b in zip(elapsed, elapsed[1:])]
    reduce = [r.get("all_reduce_seconds") for r in rows if r.get("all_reduce_seconds") is not None]
    step = statistics.median(steps)
    red = statistics.median(reduce) if reduce else 0.0
    rss = [int(l.split()[1]) / 1048576 for l in open(f"{out}/{name}.log") if l.startswith("peak_rss_kb")]
    print(f"| {name.replace('x', ' × ')} | {step:.3f} | {red:.4f} | {100 * red / step:.1f}% | {4 * 256 / step:.0f} | {float(walls[name]):.1f} "
          f"| {' + '.join(f'{r:.2f}' for r in rss)} = {sum(rss):.2f} |")
PY
