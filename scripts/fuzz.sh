#!/usr/bin/env bash
# Runs every fuzz target (proptest harnesses) for a fixed number of inputs
# in release mode and prints, per target, how many inputs ran and that none
# crashed:
#
#   scripts/fuzz.sh            # 100000 inputs per target, seed 0
#   FUZZ_CASES=1000000 FUZZ_SEED=7 scripts/fuzz.sh
#
# Targets: csv, idx, safetensors, checkpoint (crates/chainrule-nn/tests/fuzz.rs)
# and expr (crates/chainrule-inspect/tests/fuzz_expr.rs). CI runs the same
# tests with the default of 256 inputs each, in debug mode, through
# `cargo test --workspace`. A failure prints the smallest failing input.
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_CASES="${FUZZ_CASES:-100000}"
export FUZZ_SEED="${FUZZ_SEED:-0}"
echo "fuzzing: ${FUZZ_CASES} inputs per target, seed ${FUZZ_SEED}"
run() {
    local log
    log="$(mktemp)"
    if cargo test --release -p "$1" --test "$2" -- --nocapture --test-threads=1 >"$log" 2>&1; then
        grep -o 'fuzz [a-z]*: .*' "$log"
        rm -f "$log"
    else
        cat "$log"
        rm -f "$log"
        return 1
    fi
}
run chainrule-nn fuzz
run chainrule-inspect fuzz_expr
