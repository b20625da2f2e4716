#!/usr/bin/env bash
# Runs the benchmark workloads W1-W5 (shared/WORKLOADS.md) on chainrule and
# its peers, side by side on this machine, and prints Markdown tables.
#
#   bench/run_peers.sh [--runs 5] [--threads 2] [--workloads W1,W2,W3,W4,W5]
#                      [--engines chainrule,pytorch,jax,candle,burn]
#                      [--steps W1=N,W2=N,W3=N] [--no-build]
#                      [--write docs/benchmarks.md] [--results FILE]
#
# Each workload x engine runs as --runs separate processes, round by round
# (every engine's first run, then every engine's second, ...); the table shows
# the median steps/s and the largest peak RSS (VmHWM) of those runs, the
# ratio of chainrule to the best peer, and the losses each engine printed
# (they must agree: see WORKLOADS.md). W5 stands for its eight sweep points
# (W5h64 ... W5h4096, W5b1 ... W5b1024), which may also be named one by one.
# --steps overrides the timed steps (for a quick check; the published
# figures use the defaults). With --write FILE the page is written and W5's
# sweep drawn beside it (img/bench-w5.svg; needs matplotlib in the peers'
# Python). bench/peers/report.py makes the tables; --results FILE keeps
# the raw lines (one JSON object per process run), from which report.py
# can make them again.
#
# Engines:
#   chainrule  target/release/chainrule (built with `cargo build --release --bin chainrule`)
#   pytorch    bench/peers/torch_bench.py   } with $PEERS_PYTHON (default python3),
#   jax        bench/peers/jax_bench.py     } skipped when torch / jax is missing
#   candle     bench/peers/rust candle_bench } built with cargo into $PEERS_TARGET_DIR
#   burn       bench/peers/rust burn_bench   } (default bench/peers/rust/target)
# An engine that is not installed or fails to build is skipped with a note.
#
# Environment: PEERS_PYTHON, PEERS_TARGET_DIR, PEERS_TIMEOUT (seconds per
# run, default 1800), CARGO_TARGET_DIR (where chainrule's binary is).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

RUNS=5
THREADS=2
WORKLOADS="W1,W2,W3,W4,W5"
ENGINES="chainrule,pytorch,jax,candle,burn"
STEPS=""
BUILD=1
WRITE=""
KEEP=""

usage() { sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --workloads) WORKLOADS="$2"; shift 2 ;;
    --engines) ENGINES="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --write) WRITE="$2"; shift 2 ;;
    --results) KEEP="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_peers.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "run_peers.sh: --runs needs a positive integer" >&2; exit 2; }
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || { echo "run_peers.sh: --threads needs a positive integer" >&2; exit 2; }
# W5 stands for its eight points; every name must be one the engines know.
W5_POINTS="W5h64,W5h256,W5h1024,W5h4096,W5b1,W5b16,W5b128,W5b1024"
WORKLOADS="$(echo "$WORKLOADS" | sed 's/\(^\|,\)w/\1W/g' | sed "s/\(^\|,\)W5\(,\|$\)/\1$W5_POINTS\2/")"
IFS=',' read -r -a _wl <<<"$WORKLOADS"
for w in "${_wl[@]}"; do
  [[ ",W1,W2,W3,W4,$W5_POINTS," == *",$w,"* ]] || { echo "run_peers.sh: unknown workload '$w' (W1-W4, W5 or a W5 point such as W5h1024)" >&2; exit 2; }
done

PEERS_PYTHON="${PEERS_PYTHON:-python3}"
PEERS_TARGET_DIR="${PEERS_TARGET_DIR:-$ROOT/bench/peers/rust/target}"
PEERS_TIMEOUT="${PEERS_TIMEOUT:-1800}"
CHAINRULE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/chainrule"
CANDLE_BIN="$PEERS_TARGET_DIR/release/candle_bench"
BURN_BIN="$PEERS_TARGET_DIR/release/burn_bench"

# Python for the aggregation: only the standard library is needed.
AGG_PYTHON=python3
command -v "$AGG_PYTHON" >/dev/null 2>&1 || AGG_PYTHON="$PEERS_PYTHON"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/run_peers.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
RESULTS="$WORK/results.jsonl"   # one JSON object per process run
NOTES="$WORK/notes.txt"         # one note per line (skipped engines, failed runs)
: >"$RESULTS"
: >"$NOTES"

note() { echo "note: $*" >&2; echo "$*" >>"$NOTES"; }

steps_for() {  # the --steps override for workload $1, if any
  local w="$1" kv
  IFS=',' read -r -a kvs <<<"$STEPS"
  for kv in "${kvs[@]:-}"; do
    if [[ "${kv%%=*}" == "$w" && "$kv" == *=* ]]; then echo "${kv#*=}"; return; fi
  done
}

has_engine() { [[ ",$ENGINES," == *",$1,"* ]]; }

# ---- what is available ------------------------------------------------------
declare -A AVAILABLE=()

if has_engine chainrule; then
  if [[ $BUILD == 1 ]]; then
    echo "building chainrule (cargo build --release --bin chainrule) ..." >&2
    if ! cargo build --release --bin chainrule >&2; then note "chainrule: cargo build failed"; fi
  fi
  if [[ -x "$CHAINRULE_BIN" ]]; then AVAILABLE[chainrule]=1; else note "chainrule: $CHAINRULE_BIN not found, skipped"; fi
fi

for engine in pytorch jax; do
  has_engine "$engine" || continue
  module=torch; [[ $engine == jax ]] && module=jax
  if ! command -v "$PEERS_PYTHON" >/dev/null 2>&1; then
    note "$engine: no Python '$PEERS_PYTHON' (set PEERS_PYTHON), skipped"
  elif "$PEERS_PYTHON" -c "import numpy, $module" >/dev/null 2>&1; then
    AVAILABLE[$engine]=1
  else
    note "$engine: '$PEERS_PYTHON' cannot import numpy and $module (pip install -r bench/peers/requirements.txt), skipped"
  fi
done

if has_engine candle || has_engine burn; then
  if [[ $BUILD == 1 ]] && command -v cargo >/dev/null 2>&1; then
    echo "building candle_bench and burn_bench (cargo build --release in bench/peers/rust, target $PEERS_TARGET_DIR) ..." >&2
    if ! (cd bench/peers/rust && CARGO_TARGET_DIR="$PEERS_TARGET_DIR" cargo build --release --bins >&2); then
      note "candle/burn: cargo build in bench/peers/rust failed"
    fi
  fi
  for engine in candle burn; do
    has_engine "$engine" || continue
    bin="$CANDLE_BIN"; [[ $engine == burn ]] && bin="$BURN_BIN"
    if [[ -x "$bin" ]]; then AVAILABLE[$engine]=1; else note "$engine: $bin not built, skipped"; fi
  done
fi

# ---- the runs -----------------------------------------------------------------
run_one() {  # engine workload -> prints the engine's JSON line
  local engine="$1" w="$2" s
  local extra=()
  s="$(steps_for "$w")"
  [[ -n "$s" ]] && extra=(--steps "$s")
  case "$engine" in
    chainrule) timeout "$PEERS_TIMEOUT" "$CHAINRULE_BIN" bench "$w" --json --threads "$THREADS" "${extra[@]}" ;;
    pytorch) timeout "$PEERS_TIMEOUT" "$PEERS_PYTHON" bench/peers/torch_bench.py "$w" --threads "$THREADS" "${extra[@]}" ;;
    jax) timeout "$PEERS_TIMEOUT" "$PEERS_PYTHON" bench/peers/jax_bench.py "$w" --threads "$THREADS" "${extra[@]}" ;;
    candle) timeout "$PEERS_TIMEOUT" "$CANDLE_BIN" "$w" --threads "$THREADS" "${extra[@]}" ;;
    burn) timeout "$PEERS_TIMEOUT" "$BURN_BIN" "$w" --threads "$THREADS" "${extra[@]}" ;;
  esac
}

IFS=',' read -r -a WL <<<"$WORKLOADS"
IFS=',' read -r -a EN <<<"$ENGINES"
# Round by round (run 1 of every engine, then run 2, ...): a slow spell of
# a shared machine falls on every engine alike rather than on one engine's
# runs together.
for w in "${WL[@]}"; do
  for ((r = 1; r <= RUNS; r++)); do
    for engine in "${EN[@]}"; do
      [[ -n "${AVAILABLE[$engine]:-}" ]] || continue
      echo "$w $engine run $r/$RUNS ..." >&2
      if out="$(run_one "$engine" "$w" 2>"$WORK/stderr")"; then
        line="$(printf '%s\n' "$out" | grep '^{' | tail -n 1 || true)"
        if [[ -n "$line" ]]; then
          printf '{"engine_id": "%s", "workload_id": "%s", "result": %s}\n' "$engine" "$w" "$line" >>"$RESULTS"
        else
          note "$engine $w run $r printed no JSON line"
        fi
      else
        note "$engine $w run $r failed: $(tail -n 3 "$WORK/stderr" | tr '\n' ' ')"
      fi
    done
  done
done

if [[ -n "$KEEP" ]]; then cp "$RESULTS" "$KEEP"; echo "kept the raw results in $KEEP" >&2; fi

# ---- the tables and the picture -------------------------------------------------
MACHINE="$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)"
MACHINE="${MACHINE:-unknown CPU}, $(nproc) cores"
RUSTC="$(rustc --version 2>/dev/null || echo 'rustc unknown')"
# The picture needs matplotlib: the peers' Python draws it when it has it.
REPORT_PYTHON="$AGG_PYTHON"
PICTURE=()
if [[ -n "$WRITE" ]]; then
  PICTURE=(--picture "$(dirname "$WRITE")/img/bench-w5.svg")
  if "$PEERS_PYTHON" -c "import matplotlib" >/dev/null 2>&1; then REPORT_PYTHON="$PEERS_PYTHON"; fi
fi
WRITE_ARGS=()
[[ -n "$WRITE" ]] && WRITE_ARGS=(--write "$WRITE")
"$REPORT_PYTHON" bench/peers/report.py "$RESULTS" "$NOTES" --workloads "$WORKLOADS" --engines "$ENGINES" \
  --runs "$RUNS" --threads "$THREADS" --steps "$STEPS" --machine "$MACHINE" --rustc "$RUSTC" \
  "${WRITE_ARGS[@]}" "${PICTURE[@]}"
