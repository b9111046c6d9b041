#!/usr/bin/env bash
# The formatter's column limit, held: every Swift file is what `swift format` (with .swift-format,
# 120 columns) makes of it, and no line is wider than 120 columns unless it is one string literal
# the formatter cannot break (a message, help text or fixture: the line starts with the literal).
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files 'Sources/*.swift' 'Tests/*.swift' Package.swift)
swift format lint --strict --configuration .swift-format $files
wide=$(awk 'length($0) > 120 {
    line = $0; sub(/^[ \t]*/, "", line)
    if (line !~ /^(\+ |\? |: |format: |return )?#?"/) print FILENAME ":" FNR ": " length($0) " columns"
}' $files)
if [[ -n "$wide" ]]; then
    echo "lint: lines wider than 120 columns (split them, or name the parts):" >&2
    echo "$wide" >&2
    exit 1
fi
# Four or more stored properties set through one tuple: `(self.a, self.b, self.c, self.d) = (…)`.
tuples=$(grep -nE '^\s*\(\s*self\.[A-Za-z_0-9]+(\s*,\s*(self\.)?[A-Za-z_0-9]+){3,}\s*\)\s*=' $files || true)
if [[ -n "$tuples" ]]; then
    echo "lint: four or more properties set through one tuple (one assignment a line):" >&2
    echo "$tuples" >&2
    exit 1
fi
echo "lint: $(echo $files | wc -w) Swift files formatted, lines within 120 columns"
