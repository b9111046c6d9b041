#!/usr/bin/env bash
# The kernel-path matrix: the tests whose numbers pass through Loft's own SIMD kernels or the bf16
# product kernel, run again under every path this CPU can take, so that an AVX-512 machine also
# runs the code of the AVX2-only and pre-AVX2 CPUs most users have (issue 27):
#   scalar · avx2 · avx512 with the bf16 kernel off · avx512 with the bf16 kernel
# A path the CPU lacks is named and left out (loft --version says what the kernels took); the path
# the whole suite just ran on (this environment's: the CPU's own unless LOFT_SIMD/LOFT_BF16 are
# set) is left out unless --all is given.
# Each entry prints the path it took, its test count and its time; any failure fails the script.
#
#   scripts/path-matrix.sh          # after `swift test -c release` built the tests
#   scripts/path-matrix.sh --all    # every path, the CPU's own too
set -euo pipefail
cd "$(dirname "$0")/.."

# What the matrix runs (a few minutes in all): the pinned loss curve and a bf16 run beside fp32;
# the stories260K (llama2.c and HF), SmolLM2 (GGUF), Mistral and Qwen2 (HF, GGUF) logits against
# transformers; decoding against the forward, greedy stories and SmolLM2 answers; an NF4 training step (the curve) and a
# mixed NF4/NF2 one (a 2.5-bit quantize folder); the dequantization, packed-code, dense-row,
# softmax and SwiGLU kernels; the bf16 products and `eval --compute-dtype bf16`; packed rows
# (attention per sequence, each example's loss alone).
tests=(
  'LossCurveTests'
  'StoriesGoldenTests'
  'GGUFTests.testLogitsAndLossMatchTransformers'
  'SmolLM2Tests.testChatPromptsAndGreedyAnswersMatchTransformers'
  'EvaluationTests.testBatchedGenerationEqualsOneAtATime'
  'QuantizedFolderTrainingTests'
  'QuantizedTensorTests'
  'QuantizedMatMulTests'
  'RowKernelTests'
  'SharedInputInferenceTests'
  'BF16GEMMTests'
  'ExperimentCLITests.testEvalInBF16IsCloseToFP32'
  'ModelFamilyTests'
  'PackedAttentionTests'
  'PackingTests'
)
filter=$(IFS='|'; echo "${tests[*]}")
all=${1:-}
loft=.build/release/loft
logs=runs/path-matrix
mkdir -p "$logs"

# The kernels loft takes under these settings: "avx2 avx512_bf16" etc., read from --version.
kernels_under() { env "$@" "$loft" --version | sed -n 's/.*kernels: \([a-z0-9]*\); bf16 products: \([a-z0-9_]*\).*/\1 \2/p'; }
native=$(kernels_under)   # what the suite ran on: this environment's path

failed=0
run_entry() {  # name expected-kernels (a regex) env...
  local name=$1 want=$2; shift 2
  local got; got=$(kernels_under "$@")
  if ! [[ "$got" =~ ^($want)$ ]]; then
    echo "path-matrix: $name — not on this CPU (asked for '$want', the kernels take '$got')"
    return
  fi
  if [[ "$got" == "$native" && "$all" != "--all" ]]; then
    echo "path-matrix: $name — the path the whole suite just ran on"
    return
  fi
  local log="$logs/$name.log" start=$SECONDS
  if env "$@" swift test -c release --skip-build --disable-swift-testing --filter "$filter" >"$log" 2>&1; then
    local summary count
    summary=$(grep -A1 "Suite 'Selected tests'" "$log" | grep -Eo 'Executed [0-9]+ tests?.*failures? \([0-9]+ unexpected\)' | tail -1)
    count=$(grep -Eo 'Executed [0-9]+' <<<"$summary" | grep -Eo '[0-9]+' || echo 0)
    if (( count < ${#tests[@]} )); then  # a filter that matches nothing must not pass
      echo "path-matrix: $name FAILED: $count tests ran, fewer than the ${#tests[@]} names of the matrix"; failed=1; return
    fi
    echo "path-matrix: $name ($(env "$@" "$loft" --version | grep -Eo 'kernels: [^;]*; bf16 products: [a-z0-9_]*')): $summary, $((SECONDS - start)) s"
  else
    echo "path-matrix: $name FAILED ($((SECONDS - start)) s); log $log:"
    grep -E "error:|skipped|Executed" "$log" | head -40
    failed=1
  fi
}

run_entry scalar "scalar (off|none)" LOFT_SIMD=scalar LOFT_BF16=on
run_entry avx2 "avx2 (off|none)" LOFT_SIMD=avx2 LOFT_BF16=on
run_entry avx512-bf16-off "avx512 (off|none)" LOFT_SIMD=avx512 LOFT_BF16=off
run_entry avx512-bf16 "avx512 avx512_bf16" LOFT_SIMD=avx512 LOFT_BF16=on
exit $failed
