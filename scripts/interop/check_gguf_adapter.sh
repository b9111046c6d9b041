#!/usr/bin/env bash
# `loft export --gguf-adapter` checked in llama.cpp itself (by hand, not in CI): the perplexity
# of Loft's base + the LoRA adapter in llama-perplexity (llama.cpp's protocol, ctx 512) beside the
# merged GGUF's and Loft's own `eval --perplexity --protocol llama.cpp` of the run, and the greedy
# answer of llama-completion with --lora beside `loft generate`.
#
# llama.cpp's tools, built from the llama-cpp-python sdist setup.sh fetched (≈ 10 min on 2 cores):
#   tar xzf data/downloads/llama_cpp_python-0.3.36.tar.gz -C /tmp
#   cd /tmp/llama_cpp_python-0.3.36/vendor/llama.cpp && cmake -B build -DLLAMA_CURL=OFF \
#       && cmake --build build --target llama-perplexity llama-completion -j2
#
#   LLAMA=/tmp/llama_cpp_python-0.3.36/vendor/llama.cpp/build/bin scripts/interop/check_gguf_adapter.sh RUN TEXT
set -euo pipefail
run=${1:-runs/smollm2-chat}
text=${2:-/tmp/wiki-head.txt}
out=${OUT:-/tmp/gguf-adapter-check}
bin=${LLAMA:?set LLAMA to llama.cpp build/bin}
loft=.build/release/loft
mkdir -p "$out"
[ -f "$text" ] || head -c 120000 data/wikitext-2-raw/wiki.test.raw > "$text"
[ -f "$out/lora.gguf" ] || "$loft" export --model "$run" --gguf-adapter "$out/lora.gguf" --gguf "$out/merged.gguf" --type f32
echo "== loft eval (the run itself)"
"$loft" eval --perplexity --model "$run" --data "$text" --protocol llama.cpp --seq-len 512 --batch 4
echo "== llama-perplexity: base + --lora"
"$bin/llama-perplexity" -m "$out/lora-base.gguf" --lora "$out/lora.gguf" -f "$text" -c 512 -t 2 2>&1 | grep -E "Final estimate|\[[0-9]+\]" | tail -2
echo "== llama-perplexity: merged"
"$bin/llama-perplexity" -m "$out/merged.gguf" -f "$text" -c 512 -t 2 2>&1 | grep -E "Final estimate" | tail -1
