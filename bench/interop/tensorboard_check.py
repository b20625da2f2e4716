#!/usr/bin/env python3
"""Checks that TensorBoard's own readers read what ``chainrule train
--tensorboard DIR`` writes, and that it holds the run's metrics.

For every run it reads the event files of DIR twice with TensorBoard's code:

- ``event_file_loader.EventFileLoader``, file by file: every record's
  masked CRC-32C is checked by the reader, the first event must be
  ``file_version: "brain.Event:2"``;
- ``event_accumulator.EventAccumulator`` over the folder (all files, as
  TensorBoard merges them), nothing sampled away: every scalar is compared
  with the run's ``metrics.json`` (as 32-bit floats, which TensorBoard
  keeps): ``train/loss`` at every step, ``train/epoch_loss``,
  ``test/loss``, ``test/accuracy`` and the ``grad_flow/...`` measures (when
  metrics.json has ``--grad-report``'s) at each epoch's last step; every
  parameter must have a ``weights/`` and a ``grads/`` histogram each epoch;
  no step may appear twice.

Train mode (the default) runs ``chainrule`` itself into a temporary folder:
a straight run with ``--grad-report``, a regression run, and a run stopped
with ``--stop-after`` then resumed (whose events must equal the straight
run's)::

    bench/interop/tensorboard_check.py --chainrule target/release/chainrule

Check mode checks an existing run folder and event folder::

    bench/interop/tensorboard_check.py --run runs/digits --logdir tb/digits

Needs ``pip install tensorboard``. Exit status: 0 when everything matches,
1 on any mismatch, 2 on bad arguments.
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

from tensorboard.backend.event_processing import event_accumulator, event_file_loader


def f32(x):
    """``x`` rounded to a 32-bit float, as TensorBoard stores scalars."""
    return struct.unpack("f", struct.pack("f", x))[0]


class Check:
    def __init__(self):
        self.failures = []
        self.compared = 0

    def equal(self, what, got, want):
        self.compared += len(want) if isinstance(want, list) else 1
        if got != want:
            self.failures.append(f"{what}: got {got!r}, want {want!r}")


def event_files(logdir):
    return sorted(
        os.path.join(logdir, f) for f in os.listdir(logdir) if "tfevents" in f
    )


def read_files(check, logdir):
    """Every file through EventFileLoader; returns the event counts."""
    counts = []
    for path in event_files(logdir):
        events = list(event_file_loader.EventFileLoader(path).Load())
        check.equal(f"{path}: first event", events[0].file_version, "brain.Event:2")
        counts.append(len(events))
    return counts


def accumulate(logdir):
    acc = event_accumulator.EventAccumulator(
        logdir,
        size_guidance={
            event_accumulator.SCALARS: 0,
            event_accumulator.HISTOGRAMS: 0,
        },
    )
    acc.Reload()
    return acc


def scalar_series(acc, tag):
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def check_run(check, run, logdir, label):
    """Compares the events of ``logdir`` with ``run``'s metrics.json."""
    with open(os.path.join(run, "metrics.json")) as fh:
        metrics = json.load(fh)
    counts = read_files(check, logdir)
    acc = accumulate(logdir)
    tags = acc.Tags()
    scalars, histos = set(tags["scalars"]), set(tags["histograms"])

    steps = [(s["step"], f32(s["loss"])) for s in metrics["steps"]]
    check.equal(f"{label} train/loss", scalar_series(acc, "train/loss"), steps)
    ends = {}
    for s in metrics["steps"]:
        ends[s["epoch"]] = s["step"]
    epochs = metrics["epochs"]
    at = [ends[e["epoch"]] for e in epochs]
    for tag, key in [
        ("train/epoch_loss", "train_loss"),
        ("test/loss", "test_loss"),
        ("test/accuracy", "test_accuracy"),
    ]:
        if key not in epochs[0]:
            check.equal(f"{label} {tag} absent", tag in scalars, False)
            continue
        want = [(a, f32(e[key])) for a, e in zip(at, epochs)]
        check.equal(f"{label} {tag}", scalar_series(acc, tag), want)
    check.equal(f"{label} train/lr steps", [s for s, _ in scalar_series(acc, "train/lr")], at)
    if "grad_report" in epochs[0]:
        for a, e in zip(at, epochs):
            for layer in e["grad_report"]:
                name = f"{layer['number']} {layer['text']}"
                for measure in ("delta_norm", "delta_ratio", "grad_norm", "mean_abs_grad"):
                    if layer[measure] is None:
                        continue
                    series = dict(scalar_series(acc, f"grad_flow/{name}/{measure}"))
                    check.equal(
                        f"{label} grad_flow/{name}/{measure} at {a}",
                        series.get(a),
                        f32(layer[measure]),
                    )
    weights = sorted(t for t in histos if t.startswith("weights/"))
    for tag in weights:
        for kind in ("weights", "grads"):
            t = kind + tag[len("weights"):]
            events = acc.Histograms(t) if t in histos else []
            check.equal(f"{label} {t} steps", [e.step for e in events], at)
            for e in events:
                h = e.histogram_value
                check.equal(f"{label} {t} at {e.step} counts", sum(h.bucket), h.num)
    for tag in scalars:
        st = [s for s, _ in scalar_series(acc, tag)]
        check.equal(f"{label} {tag} steps increase", st, sorted(set(st)))
    print(
        f"{label}: {len(counts)} file(s), {sum(counts)} events; "
        f"{len(steps)} steps, {len(epochs)} epochs; "
        f"{len(scalars)} scalar tags, {len(histos)} histogram tags "
        f"({len(weights)} parameters)"
    )
    return acc


def run_chainrule(binary, args):
    done = subprocess.run([binary, "train", "--quiet", *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"chainrule train {' '.join(args)} failed:\n{done.stderr}")


def train_mode(check, binary):
    with tempfile.TemporaryDirectory() as tmp:
        p = lambda name: os.path.join(tmp, name)  # noqa: E731
        common = ["--data", "digits", "--hidden", "32,16", "--epochs", "6"]
        run_chainrule(binary, [*common, "--grad-report", "--schedule", "cosine",
                               "--out", p("a"), "--tensorboard", p("tb_a")])
        check_run(check, p("a"), p("tb_a"), "digits straight")
        run_chainrule(binary, [*common, "--grad-report", "--schedule", "cosine",
                               "--out", p("b"), "--tensorboard", p("tb_b"), "--stop-after", "3"])
        run_chainrule(binary, ["--resume", p("b")])
        acc_b = check_run(check, p("b"), p("tb_b"), "digits stopped and resumed")
        acc_a = accumulate(p("tb_a"))
        for tag in acc_a.Tags()["scalars"]:
            check.equal(f"resumed {tag} equals straight",
                        scalar_series(acc_b, tag), scalar_series(acc_a, tag))
        run_chainrule(binary, ["--data", "diabetes", "--hidden", "16", "--epochs", "4",
                               "--out", p("r"), "--tensorboard", p("tb_r")])
        check_run(check, p("r"), p("tb_r"), "diabetes regression")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chainrule", default="target/release/chainrule",
                        help="the binary to train with (train mode)")
    parser.add_argument("--run", help="a run folder with metrics.json (check mode)")
    parser.add_argument("--logdir", help="its --tensorboard folder (check mode)")
    args = parser.parse_args()
    check = Check()
    if args.run or args.logdir:
        if not (args.run and args.logdir):
            parser.error("--run and --logdir go together")
        check_run(check, args.run, args.logdir, args.run)
    else:
        train_mode(check, args.chainrule)
    for f in check.failures:
        print("MISMATCH", f)
    print(f"{check.compared} values compared, {len(check.failures)} mismatches")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
