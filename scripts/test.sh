#!/usr/bin/env bash
# The whole Loft test suite, in the release configuration (numeric tests are slow in debug).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product loft
swift test -c release --disable-swift-testing "$@"
scripts/crash-resume.sh 10      # SIGKILLs a training run 10 times; resumes must equal an uninterrupted run
scripts/fuzz.sh 2000            # 2000 mutated inputs per loader: no crash, no hang, every error one clean line
