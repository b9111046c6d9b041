#!/usr/bin/env bash
# Loft set-up: system packages (when missing), the release build, and the shared data links.
# Idempotent: run it again at any time.
set -euo pipefail
cd "$(dirname "$0")/.."

# 1. Debian packages: OpenBLAS (BLAS/LAPACK), SentencePiece, pkg-config.
packages=(libopenblas-dev libsentencepiece-dev pkg-config)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "setup: system packages present (${packages[*]})"
fi

# 2. Data: link the shared real data under data/ (never copied into git).
if [ -d ../shared/data ]; then
    shared="$(cd ../shared/data && pwd)"
    for item in gsm8k wikitext-2-raw tokenizers models; do
        if [ -e "$shared/$item" ]; then
            ln -sfn "$shared/$item" "data/$item"
        else
            echo "setup: warning: $shared/$item is missing"
        fi
    done
    echo "setup: data linked from $shared"
    [ -e "$shared/wikitext-2-raw/wiki.train.raw" ] || \
        echo "setup: note: wikitext-2-raw/wiki.train.raw is not in the shared data (validation and test are)"
else
    echo "setup: warning: no shared data at $(pwd)/../shared/data; data/ stays empty."
    echo "       Loft's default configs and data tests need: gsm8k/{train,test}.jsonl,"
    echo "       wikitext-2-raw/wiki.{valid,test}.raw, tokenizers/llama2/tokenizer.model,"
    echo "       models/stories260K/{stories260K.bin,tok512.model} under data/."
fi

# 3. The release build of `loft`.
swift build -c release --product loft
echo "setup: built $(pwd)/.build/release/loft"
