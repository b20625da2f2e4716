#!/usr/bin/env bash
# Runs the benchmark workloads W1-W4 (shared/WORKLOADS.md) on chainrule and
# its peers, side by side on this machine, and prints a Markdown table.
#
#   bench/run_peers.sh [--runs 5] [--threads 2] [--workloads W1,W2,W3,W4]
#                      [--engines chainrule,pytorch,jax,candle,burn]
#                      [--steps W1=N,W2=N,W3=N] [--no-build]
#                      [--write docs/benchmarks.md]
#
# Each workload x engine runs as --runs separate processes; the table shows
# the median steps/s and the largest peak RSS (VmHWM) of those runs, the
# ratio of chainrule to the best peer, and the losses each engine printed
# (they must agree: see WORKLOADS.md). --steps overrides the timed steps
# (for a quick check; the published figures use the defaults).
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
WORKLOADS="W1,W2,W3,W4"
ENGINES="chainrule,pytorch,jax,candle,burn"
STEPS=""
BUILD=1
WRITE=""

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
    -h|--help) usage; exit 0 ;;
    *) echo "run_peers.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "run_peers.sh: --runs needs a positive integer" >&2; exit 2; }
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || { echo "run_peers.sh: --threads needs a positive integer" >&2; exit 2; }

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
for w in "${WL[@]}"; do
  for engine in "${EN[@]}"; do
    [[ -n "${AVAILABLE[$engine]:-}" ]] || continue
    for ((r = 1; r <= RUNS; r++)); do
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

# ---- the table ------------------------------------------------------------------
MACHINE="$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)"
MACHINE="${MACHINE:-unknown CPU}, $(nproc) cores"
RUSTC="$(rustc --version 2>/dev/null || echo 'rustc unknown')"

"$AGG_PYTHON" - "$RESULTS" "$NOTES" "$WORKLOADS" "$ENGINES" "$RUNS" "$THREADS" "$STEPS" \
  "$MACHINE" "$RUSTC" "$WRITE" <<'PY'
import datetime
import json
import statistics
import sys

results, notes_path, workloads, engines, runs, threads, steps, machine, rustc, write = sys.argv[1:]
workloads = [w for w in workloads.split(",") if w]
engines = [e for e in engines.split(",") if e]
NAMES = {"chainrule": "chainrule", "pytorch": "PyTorch", "jax": "JAX", "candle": "candle", "burn": "burn"}

runs_by = {}
for line in open(results):
    line = line.strip()
    if not line:
        continue
    rec = json.loads(line)
    runs_by.setdefault((rec["engine_id"], rec["workload_id"]), []).append(rec["result"])
notes = [n for n in open(notes_path).read().splitlines() if n]
present = [e for e in engines if any((e, w) in runs_by for w in workloads)]


def median_sps(e, w):
    rs = runs_by.get((e, w))
    return statistics.median(r["steps_per_s"] for r in rs) if rs else None


def peak(e, w):
    rs = [r.get("peak_rss_kb") for r in runs_by.get((e, w), []) if r.get("peak_rss_kb")]
    return max(rs) if rs else None


def first(e, w, key):
    for r in runs_by.get((e, w), []):
        if r.get(key) is not None:
            return r[key]
    return None


def fmt_sps(v):
    if v is None:
        return "–"
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


def fmt_mib(kb):
    return "–" if kb is None else f"{kb / 1024:,.0f}"


def fmt_loss(v, digits=6):
    return "–" if v is None else f"{v:.{digits}e}" if abs(v) < 1e-2 else f"{v:.{digits + 1}g}"


versions = {}
for (e, _), rs in runs_by.items():
    for r in rs:
        if r.get("version"):
            versions[e] = r["version"]

out = []
out.append(f"Steps per second (median of {runs} process runs, {threads} threads; higher is better):")
out.append("")
out.append("| engine | " + " | ".join(workloads) + " |")
out.append("|---|" + "---:|" * len(workloads))
for e in present:
    out.append(f"| {NAMES.get(e, e)} | " + " | ".join(fmt_sps(median_sps(e, w)) for w in workloads) + " |")
if "chainrule" in present:
    cells = []
    for w in workloads:
        c = median_sps("chainrule", w)
        peers = [(median_sps(e, w), e) for e in present if e != "chainrule" and median_sps(e, w)]
        if c is None or not peers:
            cells.append("–")
        else:
            best, who = max(peers)
            cells.append(f"{c / best:.2f}× ({NAMES.get(who, who)})")
    out.append("| **chainrule / best peer** | " + " | ".join(cells) + " |")
out.append("")
out.append(f"Peak resident memory in MiB (largest VmHWM of the {runs} runs; Python peers include the interpreter and libraries):")
out.append("")
out.append("| engine | " + " | ".join(workloads) + " |")
out.append("|---|" + "---:|" * len(workloads))
for e in present:
    out.append(f"| {NAMES.get(e, e)} | " + " | ".join(fmt_mib(peak(e, w)) for w in workloads) + " |")
out.append("")
out.append("Losses (must agree across engines; WORKLOADS.md: W1 after 1 step 5.47188e-2, after 1,000 steps 2.61599e-4; W2 and W3 first loss = the loss before the first update; W4 before the first update 2.575835, after 1 step 2.417293):")
out.append("")
cols = []
if "W1" in workloads:
    cols += [("W1 after 1 step", "W1", "loss_after_1"), ("W1 after 1,000 steps", "W1", "loss_after_1000")]
for w in ("W2", "W3"):
    if w in workloads:
        cols.append((f"{w} first loss", w, "loss_first"))
if "W4" in workloads:
    cols += [("W4 first loss", "W4", "loss_first"), ("W4 after 1 step", "W4", "loss_after_1")]
out.append("| engine | " + " | ".join(c[0] for c in cols) + " |")
out.append("|---|" + "---:|" * len(cols))
for e in present:
    out.append(f"| {NAMES.get(e, e)} | " + " | ".join(fmt_loss(first(e, w, k)) for _, w, k in cols) + " |")
if steps:
    out.append("")
    out.append(f"Timed steps overridden: {steps} (quick check, not the WORKLOADS.md defaults).")
if notes:
    out.append("")
    out.append("Notes:")
    out.append("")
    out += [f"- {n}" for n in notes]
table = "\n".join(out)
print(table)

if write:
    vs = [rustc]
    for e, label in (("pytorch", "torch"), ("jax", "jax"), ("candle", "candle-core"), ("burn", "burn")):
        if e in versions:
            vs.append(f"{label} {versions[e]}")
    doc = [
        "# Benchmarks",
        "",
        "chainrule against its peers on the fixed workloads of `shared/WORKLOADS.md` "
        "(W1 tiny 2-2-1 network, batch 1; W2 784-512-256-10 MLP, batch 128; W3 32 tanh layers of 64, batch 32), "
        "all f32 on the CPU. A step is forward, loss, backward and a plain SGD update. "
        "Produced by `bench/run_peers.sh --write docs/benchmarks.md`.",
        "",
        f"- Date: {datetime.date.today().isoformat()}",
        f"- Machine: {machine}",
        f"- Versions: {', '.join(vs)}",
        "",
        table,
        "",
    ]
    with open(write, "w") as f:
        f.write("\n".join(doc))
    print(f"\nwrote {write}", file=sys.stderr)
PY
