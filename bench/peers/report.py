"""Turns the process runs of bench/run_peers.sh into Markdown tables (and,
with --write, docs/benchmarks.md), and draws W5's sweep.

Usage: report.py RESULTS NOTES --workloads W1,W2,... --engines chainrule,...
                 --runs N --threads N [--steps S] --machine TEXT --rustc TEXT
                 [--write FILE] [--picture FILE.svg]

RESULTS holds one JSON object per process run: {"engine_id", "workload_id",
"result"}, where result is the line the engine printed. The tables use the
standard library only; the picture needs matplotlib (the peers' Python) and
is left out, with a note, without it.

Every engine does the same arithmetic, so each one's GFLOP/s is its steps/s
times chainrule's count of operations per step (chainrule's bench reports
both), and its fraction of the FMA peak is that over the peak chainrule
measured in the same process run.
"""
import argparse
import datetime
import json
import statistics
import sys

NAMES = {"chainrule": "chainrule", "pytorch": "PyTorch", "jax": "JAX", "candle": "candle", "burn": "burn"}
W5_POINTS = ["W5h64", "W5h256", "W5h1024", "W5h4096", "W5b1", "W5b16", "W5b128", "W5b1024"]
# WORKLOADS.md: the loss before the first update of every W5 point, as every peer printed it.
W5_FIRST = {"W5h64": 2.818989, "W5h256": 2.535676, "W5h1024": 2.585956, "W5h4096": 2.658443,
            "W5b1": 2.549123, "W5b16": 2.409282, "W5b128": 2.506746, "W5b1024": 2.442320}
DESCRIBE = {
    "W1": "the worked example's 2-2-1 sigmoid network, batch 1, MSE",
    "W2": "784-512-256-10 ReLU MLP, batch 128, softmax cross-entropy",
    "W3": "32 tanh layers of 64 and one of 1, batch 32, MSE",
    "W4": "LeNet-5 on 64 images of 1×28×28, softmax cross-entropy",
}


def point_label(w):
    return f"h = {w[3:]}" if w[2] == "h" else f"batch {w[3:]}"


def point_batch(w):
    return 128 if w[2] == "h" else int(w[3:])


class Runs:
    def __init__(self, path):
        self.by = {}
        for line in open(path):
            line = line.strip()
            if line:
                rec = json.loads(line)
                self.by.setdefault((rec["engine_id"], rec["workload_id"]), []).append(rec["result"])

    def results(self, e, w):
        return self.by.get((e, w), [])

    def sps(self, e, w):
        rs = self.results(e, w)
        return statistics.median(r["steps_per_s"] for r in rs) if rs else None

    def peak_rss(self, e, w):
        rs = [r.get("peak_rss_kb") for r in self.results(e, w) if r.get("peak_rss_kb")]
        return max(rs) if rs else None

    def first(self, e, w, key):
        for r in self.results(e, w):
            if r.get(key) is not None:
                return r[key]
        return None

    def flops_per_step(self, w):
        """Operations per step, from chainrule's own count."""
        for r in self.results("chainrule", w):
            if r.get("gflops") and r.get("steps_per_s"):
                return r["gflops"] * 1e9 / r["steps_per_s"]
        return None

    def peak_flops(self):
        """The median FMA peak (FLOP/s) chainrule measured over all its runs."""
        ps = [r["peak_gflops"] * 1e9 for (e, _), rs in self.by.items() if e == "chainrule"
              for r in rs if r.get("peak_gflops")]
        return statistics.median(ps) if ps else None

    def best_peer(self, w, present):
        peers = [(self.sps(e, w), e) for e in present if e != "chainrule" and self.sps(e, w)]
        return max(peers) if peers else None

    def versions(self):
        v = {}
        for (e, _), rs in self.by.items():
            for r in rs:
                if r.get("version"):
                    v[e] = r["version"]
        return v


def fmt_sps(v):
    if v is None:
        return "–"
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


def fmt_mib(kb):
    return "–" if kb is None else f"{kb / 1024:,.0f}"


def fmt_loss(v, digits=6):
    return "–" if v is None else f"{v:.{digits}e}" if abs(v) < 1e-2 else f"{v:.{digits + 1}g}"


def fmt_pct(v):
    if v is None:
        return "–"
    return "<0.1 %" if v < 0.001 else f"{100 * v:.1f} %" if v < 0.1 else f"{100 * v:.0f} %"


def fmt_gflops(v):
    return f"{v:,.1f}" if v >= 10 else f"{v:.3g}"


def ratio_cell(runs, w, present):
    c, best = runs.sps("chainrule", w), runs.best_peer(w, present)
    if c is None or best is None:
        return "–"
    return f"{c / best[0]:.2f}× ({NAMES.get(best[1], best[1])})"


def fixed_tables(runs, fixed, present, n_runs, threads, peak):
    out = [f"Steps per second (median of {n_runs} process runs, {threads} threads; higher is better):", ""]
    out.append("| engine | " + " | ".join(fixed) + " |")
    out.append("|---|" + "---:|" * len(fixed))
    for e in present:
        out.append(f"| {NAMES.get(e, e)} | " + " | ".join(fmt_sps(runs.sps(e, w)) for w in fixed) + " |")
    if "chainrule" in present:
        out.append("| **chainrule / best peer** | " + " | ".join(ratio_cell(runs, w, present) for w in fixed) + " |")
    if peak:
        out += ["", f"Arithmetic rate as a fraction of the FMA peak ({peak / 1e9:.1f} GFLOP/s on {threads} threads, "
                "measured by chainrule in the same runs; every engine does the same operations per step):", ""]
        out.append("| engine | " + " | ".join(fixed) + " |")
        out.append("|---|" + "---:|" * len(fixed))
        for e in present:
            cells = []
            for w in fixed:
                f, s = runs.flops_per_step(w), runs.sps(e, w)
                cells.append("–" if f is None or s is None else f"{fmt_gflops(s * f / 1e9)} GFLOP/s, {fmt_pct(s * f / peak)}")
            out.append(f"| {NAMES.get(e, e)} | " + " | ".join(cells) + " |")
    out += ["", f"Peak resident memory in MiB (largest VmHWM of the {n_runs} runs; "
            "Python peers include the interpreter and libraries):", ""]
    out.append("| engine | " + " | ".join(fixed) + " |")
    out.append("|---|" + "---:|" * len(fixed))
    for e in present:
        out.append(f"| {NAMES.get(e, e)} | " + " | ".join(fmt_mib(runs.peak_rss(e, w)) for w in fixed) + " |")
    cols = []
    if "W1" in fixed:
        cols += [("W1 after 1 step", "W1", "loss_after_1"), ("W1 after 1,000 steps", "W1", "loss_after_1000")]
    cols += [(f"{w} first loss", w, "loss_first") for w in ("W2", "W3", "W4") if w in fixed]
    if "W4" in fixed:
        cols.append(("W4 after 1 step", "W4", "loss_after_1"))
    if cols:
        out += ["", "Losses (must agree across engines; WORKLOADS.md: W1 after 1 step 5.47188e-2, after 1,000 steps "
                "2.61599e-4; W4 before the first update 2.575835, after 1 step 2.417293; a first loss is the loss "
                "before the first update):", ""]
        out.append("| engine | " + " | ".join(c[0] for c in cols) + " |")
        out.append("|---|" + "---:|" * len(cols))
        for e in present:
            out.append(f"| {NAMES.get(e, e)} | " + " | ".join(fmt_loss(runs.first(e, w, k)) for _, w, k in cols) + " |")
    return out


def sweep_tables(runs, points, present, n_runs, peak):
    peers = [e for e in present if e != "chainrule"]
    out = [f"Steps per second at every point (median of {n_runs} process runs), samples per second "
           "(steps/s × batch), chainrule's ratio to the best peer and its fraction of the FMA peak:", ""]
    out.append("| point | " + " | ".join(NAMES.get(e, e) for e in present)
               + " | chainrule samples/s | **chainrule / best peer** | chainrule, fraction of peak |")
    out.append("|---|" + "---:|" * (len(present) + 3))
    for w in points:
        cells = [fmt_sps(runs.sps(e, w)) for e in present]
        c, f = runs.sps("chainrule", w), runs.flops_per_step(w)
        samples = "–" if c is None else f"{c * point_batch(w):,.0f}"
        frac = "–" if c is None or f is None or not peak else fmt_pct(c * f / peak)
        out.append(f"| {point_label(w)} | " + " | ".join(cells)
                   + f" | {samples} | {ratio_cell(runs, w, present) if peers else '–'} | {frac} |")
    out += ["", "Peak resident memory in MiB and the loss before the first update (WORKLOADS.md's value "
            "first; every engine must print it to 1e-5):", ""]
    out.append("| point | " + " | ".join(f"{NAMES.get(e, e)} MiB" for e in present)
               + " | WORKLOADS.md | " + " | ".join(NAMES.get(e, e) for e in present) + " |")
    out.append("|---|" + "---:|" * (2 * len(present) + 1))
    for w in points:
        out.append(f"| {point_label(w)} | " + " | ".join(fmt_mib(runs.peak_rss(e, w)) for e in present)
                   + f" | {W5_FIRST[w]:.6f} | " + " | ".join(fmt_loss(runs.first(e, w, "loss_first")) for e in present)
                   + " |")
    return out


def draw_sweep(runs, points, present, peak, path):
    """Two log-log panels: steps/s against width, samples/s against batch."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    import matplotlib.pyplot as plt

    colors = {"chainrule": "#c0392b", "pytorch": "#2c7fb8", "jax": "#41ab5d", "candle": "#8c6bb1", "burn": "#e69f00"}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    panels = [
        (axes[0], [w for w in points if w[2] == "h"], "hidden width h (256-h-h-10, batch 128)", "steps per second", 1),
        (axes[1], [w for w in points if w[2] == "b"], "batch size (784-512-256-10)", "samples per second", None),
    ]
    for ax, ws, xlabel, ylabel, per_step in panels:
        if not ws:
            ax.set_visible(False)
            continue
        xs = [int(w[3:]) for w in ws]
        for e in present:
            pts = [(x, runs.sps(e, w) * (per_step or point_batch(w))) for x, w in zip(xs, ws) if runs.sps(e, w)]
            if pts:
                ax.plot(*zip(*pts), marker="o", lw=2.2 if e == "chainrule" else 1.4,
                        color=colors.get(e), label=NAMES.get(e, e))
        if peak:
            pk = [(x, peak / runs.flops_per_step(w) * (per_step or point_batch(w)))
                  for x, w in zip(xs, ws) if runs.flops_per_step(w)]
            if pk:
                ax.plot(*zip(*pk), ls="--", color="#555555", lw=1.2, label="FMA peak of the machine")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels([str(x) for x in xs])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.25)
    axes[0].set_title("W5 (a): cost against width")
    axes[1].set_title("W5 (b): throughput against batch")
    handles, labels = axes[0].get_legend_handles_labels()
    if not handles:
        handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, metadata={"Date": None})
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("notes")
    ap.add_argument("--workloads", required=True)
    ap.add_argument("--engines", required=True)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--threads", required=True)
    ap.add_argument("--steps", default="")
    ap.add_argument("--machine", default="unknown machine")
    ap.add_argument("--rustc", default="rustc unknown")
    ap.add_argument("--write")
    ap.add_argument("--picture")
    a = ap.parse_args()

    runs = Runs(a.results)
    workloads = [w for w in a.workloads.split(",") if w]
    engines = [e for e in a.engines.split(",") if e]
    notes = [n for n in open(a.notes).read().splitlines() if n]
    present = [e for e in engines if any(runs.results(e, w) for w in workloads)]
    fixed = [w for w in workloads if w not in W5_POINTS]
    points = [w for w in workloads if w in W5_POINTS]
    peak = runs.peak_flops()

    out = []
    if fixed:
        out += fixed_tables(runs, fixed, present, a.runs, a.threads, peak)
    if points:
        if out:
            out += ["", "## W5: how the cost grows", ""]
        out += sweep_tables(runs, points, present, a.runs, peak)
        if a.picture:
            try:
                draw_sweep(runs, points, present, peak, a.picture)
                out += ["", f"![W5 sweep: steps/s against width and samples/s against batch, log-log, one line "
                        f"per engine, the FMA peak dashed](img/{a.picture.rsplit('/', 1)[-1]})"]
                print(f"drew {a.picture}", file=sys.stderr)
            except ImportError:
                notes.append("the W5 picture needs matplotlib in the peers' Python (pip install matplotlib): not drawn")
    if a.steps:
        out += ["", f"Timed steps overridden: {a.steps} (quick check, not the WORKLOADS.md defaults)."]
    if notes:
        out += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    table = "\n".join(out)
    print(table)

    if a.write:
        versions = runs.versions()
        vs = [a.rustc] + [f"{label} {versions[e]}" for e, label in
                          (("pytorch", "torch"), ("jax", "jax"), ("candle", "candle-core"), ("burn", "burn"))
                          if e in versions]
        described = [f"{w} {DESCRIBE[w]}" for w in fixed if w in DESCRIBE]
        if points:
            described.append("W5 a sweep: 256-h-h-10 for h = 64 … 4096 at batch 128, and W2's network at "
                             "batch 1 … 1024")
        doc = [
            "# Benchmarks",
            "",
            "chainrule against its peers on the fixed workloads of `shared/WORKLOADS.md` ("
            + "; ".join(described) + "), all f32 on the CPU. A step is forward, loss, backward and a plain SGD "
            "update. Every figure on this page comes from one run of `bench/run_peers.sh --write "
            "docs/benchmarks.md` on the machine named below; `docs/performance.md` says where the time goes.",
            "",
            f"- Date: {datetime.date.today().isoformat()}",
            f"- Machine: {a.machine}",
            f"- Versions: {', '.join(vs)}",
            "",
            table,
            "",
        ]
        with open(a.write, "w") as f:
            f.write("\n".join(doc))
        print(f"\nwrote {a.write}", file=sys.stderr)


if __name__ == "__main__":
    main()
