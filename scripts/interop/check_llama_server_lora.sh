#!/usr/bin/env bash
# A run's `loft export --gguf-adapter` served by llama.cpp's own server with `--lora`, beside
# `loft serve` of the same run: the same greedy chat answers, token for token (by hand, not in CI).
# Build llama-server as check_gguf_adapter.sh builds its tools (target llama-server), then:
#   LLAMA=/tmp/llama_cpp_python-0.3.36/vendor/llama.cpp/build/bin scripts/interop/check_llama_server_lora.sh RUN [N]
set -euo pipefail
run=${1:-runs/smollm2-chat}
questions=${2:-5}
out=${OUT:-/tmp/gguf-adapter-check}
bin=${LLAMA:?set LLAMA to llama.cpp build/bin}
loft=.build/release/loft
mkdir -p "$out"
[ -f "$out/lora.gguf" ] || "$loft" export --model "$run" --gguf-adapter "$out/lora.gguf" --adapter-type f32
"$bin/llama-server" -m "$out/lora-base.gguf" --lora "$out/lora.gguf" --port 18081 -t 2 -c 4096 >"$out/llama-server.log" 2>&1 &
llama=$!
"$loft" serve --model "$run" --port 18082 2>"$out/loft-serve.log" &
served=$!
trap 'kill $llama $served 2>/dev/null || true' EXIT
for port in 18081 18082; do
  for _ in $(seq 300); do curl -sf "localhost:$port/health" >/dev/null && break; sleep 1; done
done
python3 scripts/interop/compare_servers.py http://127.0.0.1:18081 http://127.0.0.1:18082 --questions "$questions"
