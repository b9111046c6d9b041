#!/usr/bin/env bash
# The whole Loft test suite, in the release configuration (numeric tests are slow in debug).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/lint.sh                 # the formatter's 120 columns held (swift format lint --strict)
swift build -c release --build-tests   # loft and the tests, one configuration (setup.sh builds the same)
.build/release/loft --version   # the CPU path the suite runs on
swift test -c release --skip-build --disable-swift-testing "$@"
scripts/path-matrix.sh          # the kernel-path tests again on every other path this CPU can take
scripts/crash-resume.sh 10      # SIGKILLs a training run 10 times; resumes must equal an uninterrupted run
scripts/fuzz.sh                 # mutated inputs for every loader (a budget per target): no crash, no hang, one clean line
