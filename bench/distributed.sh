#!/usr/bin/env bash
# docs/distributed.md's speed figures: `train --distributed` on 2 ranks of
# 1 thread, with the sums overlapping the backward pass and after it,
# against one process of 2 threads, on a W2-like job (784-512-256-10,
# ReLU, SGD, batch 128, 1024 random rows) and the digits job (64-32, Adam,
# batch 32). Steps per second come from the difference of two runs of
# different lengths (data loading and start-up cancel out); the time in the
# sums per step from the difference of the two runs' reports (rank 0's).
#
#   cargo build --release --features mpi && bench/distributed.sh [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/chainrule}
repeats=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
awk 'BEGIN { srand(1); for (r = 0; r < 1024; r++) { line = "";
    for (c = 0; c < 784; c++) line = line sprintf("%.3f,", rand());
    print line int(rand() * 10) } }' >"$work/w2.csv"

# job name, flags, short and long epoch counts, steps per epoch
w2=(--data "csv:$work/w2.csv" --hidden 512,256 --optimizer sgd --lr 0.01 --batch-size 128 --test-fraction 0)
digits=(--data digits --batch-size 32)

# run LAUNCH... -- FLAGS...: prints "seconds sum_seconds wait_seconds"
run() {
    local launch=() out="$work/run"
    while [ "$1" != "--" ]; do launch+=("$1"); shift; done
    shift
    rm -rf "$out"
    local t0 t1
    t0=$(date +%s.%N)
    "${launch[@]}" "$BIN" train "$@" --out "$out" >/dev/null 2>"$work/err"
    t1=$(date +%s.%N)
    local sums wait
    sums=$(sed -n 's/.*; \([0-9.]*\) s of .* in the sums.*/\1/p' "$work/err")
    wait=$(sed -n 's/.*of which \([0-9.]*\) s waiting.*/\1/p' "$work/err")
    echo "$(echo "$t1 - $t0" | bc -l) ${sums:-0} ${wait:-0}"
}

measure() { # name steps_short steps_long epochs_short epochs_long config flags...
    local name=$1 s1=$2 s2=$3 e1=$4 e2=$5 config=$6
    shift 6
    local launch
    case $config in
        N1x2) launch=(env) ; set -- "$@" --threads 2 ;;
        N2x1-overlap) launch=(mpiexec -n 2) ; set -- "$@" --threads 1 --distributed --allreduce overlap ;;
        N2x1-overlap512) launch=(mpiexec -n 2) ; set -- "$@" --threads 1 --distributed --allreduce overlap --bucket-kib 512 ;;
        N2x1-after) launch=(mpiexec -n 2) ; set -- "$@" --threads 1 --distributed --allreduce after ;;
        N1x1) launch=(env) ; set -- "$@" --threads 1 ;;
    esac
    local a b
    a=($(run "${launch[@]}" -- "$@" --epochs "$e1"))
    b=($(run "${launch[@]}" -- "$@" --epochs "$e2"))
    local steps=$((s2 - s1))
    echo "$name $config $(echo "$steps / (${b[0]} - ${a[0]})" | bc -l | xargs printf '%.0f') steps/s;" \
        "sums $(echo "(${b[1]} - ${a[1]}) * 1000 / $steps" | bc -l | xargs printf '%.3f') ms/step" \
        "(waiting $(echo "(${b[2]} - ${a[2]}) * 1000 / $steps" | bc -l | xargs printf '%.3f')) of" \
        "$(echo "(${b[0]} - ${a[0]}) * 1000 / $steps" | bc -l | xargs printf '%.3f') ms/step"
}

for r in $(seq "$repeats"); do
    for config in ${CONFIGS:-N1x2 N2x1-overlap N2x1-overlap512 N2x1-after N1x1}; do
        # W2: 8 steps per epoch; digits: 1438 rows / 32 = 45 steps.
        measure W2 $((8 * 10)) $((8 * 60)) 10 60 "$config" "${w2[@]}"
        measure digits $((45 * 20)) $((45 * 100)) 20 100 "$config" "${digits[@]}"
    done
done
