#!/usr/bin/env python3
"""Checks ``chainrule export`` against ONNX's checker and ONNX Runtime::

    python3 bench/interop/onnx_check.py [--chainrule target/release/chainrule] \\
        [--rows 100] [--tol 1e-5] [--keep DIR] [--only NAME]

For each case below it trains a model with ``chainrule train`` (a few epochs:
the weights only need to be non-trivial; batch norm's running statistics
are then real), writes it with ``chainrule export --model FILE --out
model.onnx``, and checks

1. ``onnx.checker.check_model(model, full_check=True)`` (schema, operator
   set, shape inference);
2. the graph's input and output: ``[batch, ...]`` with ``batch`` symbolic,
   the per-example shapes the model file records;
3. every initializer named as a tensor of the model file holds the same
   f32 values bit for bit (with ``safetensors``, if installed);
4. ONNX Runtime's output for ``--rows`` rows of the model's data set (raw
   features: the graph standardizes them), run as one batch, against
   ``chainrule predict --model FILE --input ROW --json``'s ``output`` row by
   row: ``|onnx - chainrule| <= tol * (1 + |chainrule|)``.

It prints one line per check with the largest differences, then PASS or
FAIL, and exits 0 or 1 (2 when a tool is missing or a command fails).
Needs ``pip install onnx onnxruntime numpy``.
"""

import argparse
import csv
import gzip
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "crates", "chainrule-nn", "data")

CNN = (
    "conv2d(8,3,pad=1),batchnorm2d,relu,residual(conv2d(8,3,pad=1),batchnorm2d,relu),"
    "maxpool2d(2),flatten,dropout(0.2),linear(10)"
)
# layernorm over [C, H, W] and over features, leaky_relu, avgpool2d with
# padding (count_include_pad), a grouped dilated convolution, tanh, sigmoid
# in a residual body, a convolution without bias, globalavgpool2d,
# batchnorm1d, and maxpool2d with padding.
MIXED = (
    "conv2d(6,3,pad=1),layernorm(axes=3),leaky_relu(0.1),avgpool2d(3,stride=2,pad=1),"
    "conv2d(6,3,pad=2,dilation=2,groups=3),tanh,residual(conv2d(6,1,bias=false),sigmoid),"
    "maxpool2d(3,stride=1,pad=1),globalavgpool2d,linear(32),layernorm,leaky_relu(0.1),"
    "batchnorm1d,linear(10)"
)
# Norm layers without γ and β, sigmoid and tanh, dropout, one regression output.
PLAIN = (
    "linear(16),batchnorm1d(affine=false),sigmoid,dropout(0.1),linear(8),"
    "layernorm(affine=false),tanh,linear(1)"
)

# name, data set, train arguments
CASES = [
    ("mlp-digits", "digits", ["--epochs", "3"]),
    ("mlp-iris", "iris", ["--epochs", "20", "--hidden", "16", "--activation", "tanh"]),
    ("cnn-digits", "digits", ["--epochs", "2", "--arch", CNN]),
    ("mixed-digits", "digits", ["--epochs", "2", "--arch", MIXED]),
    ("plain-diabetes", "diabetes", ["--epochs", "5", "--arch", PLAIN]),
]


def data_rows(name, count):
    """The first ``count`` rows of a built-in data set (features only, raw),
    taken evenly over the file so that every class appears."""
    if name == "digits":
        with gzip.open(os.path.join(DATA, "digits.csv.gz"), "rt") as f:
            rows = [[float(v) for v in line.split(",")[:-1]] for line in f if line.strip()]
    elif name in ("iris", "breast-cancer"):
        path = os.path.join(DATA, name.replace("-", "_") + ".csv")
        with open(path) as f:
            lines = list(csv.reader(f))[1:]
        rows = [[float(v) for v in line[:-1]] for line in lines if line]
    elif name == "diabetes":
        with gzip.open(os.path.join(DATA, "diabetes_data_raw.csv.gz"), "rt") as f:
            rows = [[float(v) for v in line.split()] for line in f if line.strip()]
    else:
        raise ValueError(f"no rows for data set {name}")
    step = max(1, len(rows) // count)
    return rows[::step][:count]


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL: {' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
        sys.exit(2)
    return r.stdout


def check_case(args, name, data, train_args, folder):
    import onnx
    import onnxruntime as ort

    ok = True
    run_dir = os.path.join(folder, name)
    run([args.chainrule, "train", "--quiet", "--data", data, "--out", run_dir, "--overwrite"] + train_args)
    model_file = os.path.join(run_dir, "model.safetensors")
    onnx_file = os.path.join(folder, name + ".onnx")
    said = run([args.chainrule, "export", "--model", model_file, "--out", onnx_file])
    print(f"{name}: {said.strip()}")

    m = onnx.load(onnx_file)
    onnx.checker.check_model(m, full_check=True)
    ops = [n.op_type for n in m.graph.node]
    print(f"  checker (full_check): ok; opset {m.opset_import[0].version}, ir_version {m.ir_version}; {' '.join(ops)}")

    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    (inp,), (out,) = m.graph.input, m.graph.output
    rows = data_rows(data, args.rows)
    print(f"  input {inp.name} {dims(inp)}, output {out.name} {dims(out)}")
    if dims(inp)[0] != "batch" or dims(out)[0] != "batch":
        print("  FAIL: the batch dimension is not symbolic")
        ok = False

    try:
        from safetensors.numpy import load_file
    except ImportError:
        load_file = None
    if load_file is not None:
        tensors = load_file(model_file)
        inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
        named = [k for k in inits if k in tensors]
        same = all(
            inits[k].dtype == np.float32
            and inits[k].shape == tensors[k].shape
            and np.array_equal(inits[k].view(np.uint32), tensors[k].astype(np.float32).view(np.uint32))
            for k in named
        )
        others = sorted(set(inits) - set(named))
        missing = sorted(k for k in tensors if k not in inits and not k.endswith("num_batches_tracked"))
        print(f"  initializers: {len(named)} equal the model file's tensors bit for bit: {same}; others {others}")
        if not same or missing:
            print(f"  FAIL: initializers differ from the model file (missing {missing})")
            ok = False

    shape = [len(rows)] + [int(d) for d in dims(inp)[1:]]
    x = np.asarray(rows, dtype=np.float32).reshape(shape)
    session = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {inp.name: x})
    want = []
    for row in rows:
        text = ",".join(repr(v) for v in row)
        want.append(json.loads(run([args.chainrule, "predict", "--model", model_file, "--input", text, "--json"]))["output"])
    want = np.asarray(want, dtype=np.float64)
    got = got.astype(np.float64)
    if got.shape != want.shape:
        print(f"  FAIL: onnxruntime gives {got.shape}, chainrule {want.shape}")
        return False
    diff = np.abs(got - want)
    rel = diff / (1.0 + np.abs(want))
    passed = bool(rel.max() <= args.tol)
    print(
        f"  onnxruntime vs chainrule predict on {len(rows)} rows: max |diff| {diff.max():.3g}, "
        f"max |diff|/(1+|chainrule|) {rel.max():.3g} (tol {args.tol:g}): {'ok' if passed else 'FAIL'}"
    )
    return ok and passed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chainrule", default=os.path.join(ROOT, "target", "release", "chainrule"))
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--tol", type=float, default=1e-5, help="|a - b| <= tol * (1 + |b|)")
    parser.add_argument("--keep", help="write the runs and .onnx files here (default: a temporary folder)")
    parser.add_argument("--only", help="run only the case of this name")
    args = parser.parse_args()
    if not os.path.exists(args.chainrule):
        print(f"no chainrule binary at {args.chainrule} (cargo build --release, or --chainrule PATH)")
        sys.exit(2)
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        print(f"needs onnx and onnxruntime: {e}")
        sys.exit(2)
    cases = [c for c in CASES if args.only in (None, c[0])]
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or tmp
        os.makedirs(folder, exist_ok=True)
        results = [check_case(args, name, data, train, folder) for name, data, train in cases]
    ok = all(results)
    print(f"{'PASS' if ok else 'FAIL'}: {sum(results)} of {len(results)} models")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
