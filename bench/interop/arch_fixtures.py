#!/usr/bin/env python3
"""Writes the PyTorch fixtures for chainrule's architecture-string networks
(convolution, pooling, batch and layer norm, residual blocks). Every file
under ``crates/chainrule-nn/tests/data/torch_arch/`` is written by this
script::

    python3 bench/interop/arch_fixtures.py             # rewrites the folder

For each network (``A`` and ``B`` below) it writes:

* ``<net>_init.safetensors``: ``build_model(arch, [1, 8, 8])`` (see
  ``check_arch_torch.py``, the one PyTorch reading of an architecture string)
  after ``torch.manual_seed(0)``, PyTorch's default initialization, saved with
  ``safetensors.torch.save_file(model.state_dict())``: float32, batch-norm
  buffers included (``running_mean``, ``running_var``, and
  ``num_batches_tracked`` as int64 0); no metadata.
* ``<net>.json``: one epoch of ``torch.optim.SGD(lr=0.05)`` (momentum 0) with
  ``CrossEntropyLoss`` (mean) in ``model.train()`` mode on the embedded digits
  set, all 1,797 rows (``--test-fraction 0``), standardized as chainrule
  standardizes a built-in set (below), fed as ``[N, 1, 8, 8]`` in file order
  (``--no-shuffle``), batches of 32 with the last partial batch (5 rows)
  kept: 57 steps. Once in float32 and once in float64 (the same initial
  weights, cast; the standardized inputs in f64 rather than rounded to f32),
  so that a test can tell how far f32 itself drifts. It records the loss of
  every step (the batch loss before that step's update, as chainrule's
  ``metrics.json`` records it), every tensor of the final ``state_dict``
  (parameters and buffers) for both, the ``model.eval()`` outputs (logits) of
  the trained models for the first 5 rows (fed standardized; the raw rows,
  what ``chainrule predict --input`` takes, are recorded beside them, and
  give the same numbers since predict standardizes them the same way), the
  standardization's mean and std, and the command chainrule runs.

Standardization (``Standardizer::fit`` in
``crates/chainrule-nn/src/data/split.rs``): over the training rows (all of
them), per pixel, mean = sum / n and population std = sqrt(sum (x - mean)^2
/ n), both summed in f64 in row order; a constant pixel (every row equal)
gets its value as the mean and std 1, so it maps to exactly 0. Then x' = (x -
mean) / std in f64, rounded to f32 for an f32 network.

The versions of Python, PyTorch, safetensors and NumPy that wrote the files
are recorded in the JSON files. The script checks that the f32 and f64 loss
sequences agree closely and that the loss falls over the epoch.
"""

import gzip
import json
import os
import platform
import sys

import numpy as np
import safetensors
import safetensors.torch
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_arch_torch import build_model  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "crates", "chainrule-nn", "tests", "data", "torch_arch")
DIGITS = os.path.join(ROOT, "crates", "chainrule-nn", "data", "digits.csv.gz")

NETWORKS = {
    "A": "conv2d(4,3,pad=1),batchnorm2d,relu,residual(conv2d(4,3,pad=1),batchnorm2d,relu),"
    "maxpool2d(2),dropout(0),flatten,linear(10)",
    "B": "conv2d(6,3,pad=1,bias=false),leaky_relu,avgpool2d(2),"
    "conv2d(6,3,pad=2,dilation=2,groups=2),tanh,maxpool2d(3,stride=1,pad=1),"
    "residual(layernorm(axes=3),conv2d(6,1),sigmoid),globalavgpool2d,batchnorm1d,linear(10)",
}
INPUT_SHAPE = [1, 8, 8]
SEED = 0
LR = 0.05
BATCH = 32
EPOCHS = 1
PREDICT_ROWS = 5
# The f32 and f64 loss sequences must agree to this (relative), or the
# fixture is too chaotic to test against.
LOSS_AGREEMENT = 1e-5


def versions():
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
        "script": "bench/interop/arch_fixtures.py",
    }


def floats(tensor):
    """The values as Python floats (exact: f32 and f64 both fit in a float)."""
    return [float(v) for v in tensor.detach().double().reshape(-1).tolist()]


def tensors(state):
    out = []
    for name, v in state.items():
        values = [int(x) for x in v.reshape(-1).tolist()] if not v.is_floating_point() else floats(v)
        out.append({"name": name, "dtype": str(v.dtype).replace("torch.", ""),
                    "shape": list(v.shape), "values": values})
    return out


def digits():
    """The raw pixels [n, 64] (f64) and labels, in file order."""
    with gzip.open(DIGITS, "rt") as f:
        rows = [[int(v) for v in line.split(",")] for line in f.read().split("\n") if line.strip()]
    data = np.array(rows, dtype=np.int64)
    return data[:, :-1].astype(np.float64), data[:, -1]


def standardizer(x):
    """Standardizer::fit: sums in f64 in row order (not NumPy's pairwise
    sum), population std, constant columns mapped to 0."""
    n, d = x.shape
    total = np.zeros(d)
    for row in x:
        total += row
    mean = total / n
    var = np.zeros(d)
    for row in x:
        var += (row - mean) * (row - mean)
    std = np.ones(d)
    constant = (x == x[0]).all(axis=0)
    for j in range(d):
        s = np.sqrt(var[j] / n)
        if constant[j]:
            mean[j] = x[0, j]
        elif s > 0 and np.isfinite(s):
            std[j] = s
    return mean, std


def train(model, x, y, dtype):
    model = model.to(dtype)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.0)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.tensor(x, dtype=dtype).reshape([-1] + INPUT_SHAPE)
    y = torch.tensor(y, dtype=torch.int64)
    losses = []
    for _ in range(EPOCHS):
        for start in range(0, len(x), BATCH):
            optimizer.zero_grad()
            loss = loss_fn(model(x[start : start + BATCH]), y[start : start + BATCH])
            losses.append(loss.item())
            loss.backward()
            optimizer.step()
    return model, losses


def relative_gap(a, b):
    return max(abs(p - q) / max(abs(q), 1e-30) for p, q in zip(a, b))


def write_network(name, arch, raw, labels, mean, std, summary):
    torch.manual_seed(SEED)
    model = build_model(arch, INPUT_SHAPE)
    init = {k: v.clone().contiguous() for k, v in model.state_dict().items()}
    init_file = f"{name}_init.safetensors"
    safetensors.torch.save_file(init, os.path.join(OUT, init_file))

    standardized = (raw - mean) / std  # f64
    model32 = build_model(arch, INPUT_SHAPE)
    model32.load_state_dict(init)
    model32, losses32 = train(model32, standardized.astype(np.float32), labels, torch.float32)
    model64 = build_model(arch, INPUT_SHAPE).to(torch.float64)
    model64.load_state_dict(init)
    model64, losses64 = train(model64, standardized, labels, torch.float64)

    state32 = model32.state_dict()
    state64 = model64.state_dict()
    weight_gap = max(
        float(((state32[k].double() - state64[k]).abs().max() / state64[k].abs().max().clamp_min(1e-30)))
        for k in state64 if state64[k].is_floating_point()
    )
    loss_gap = relative_gap(losses32, losses64)
    first, last = np.mean(losses32[:5]), np.mean(losses32[-5:])
    assert len(losses32) == 57, len(losses32)
    assert loss_gap < LOSS_AGREEMENT, f"{name}: f32 and f64 losses {loss_gap:.3g} apart"
    assert last < first, f"{name}: the loss did not fall ({first} -> {last})"

    model32.eval()
    model64.eval()
    rows = slice(0, PREDICT_ROWS)
    with torch.no_grad():
        x32 = torch.tensor(standardized[rows].astype(np.float32)).reshape([-1] + INPUT_SHAPE)
        logits32 = model32(x32)
        # What `chainrule predict --input RAW` does: standardize in f64, round to f32.
        from_raw = torch.tensor(((raw[rows] - mean) / std).astype(np.float32)).reshape([-1] + INPUT_SHAPE)
        logits32_raw = model32(from_raw)
        logits64 = model64(torch.tensor(standardized[rows]).reshape([-1] + INPUT_SHAPE))

    record = {
        "versions": versions(),
        "arch": arch,
        "init": init_file,
        "input_shape": INPUT_SHAPE,
        "command": [
            "chainrule", "train", "--data", "digits", "--arch", arch, "--init", init_file,
            "--optimizer", "sgd", "--lr", str(LR), "--momentum", "0",
            "--batch-size", str(BATCH), "--epochs", str(EPOCHS), "--no-shuffle",
            "--test-fraction", "0", "--seed", str(SEED),
        ],
        "mode": "model.train() while training (batch statistics, running statistics updated); model.eval() for the logits",
        "steps": len(losses32),
        "losses_f32": losses32,
        "losses_f64": losses64,
        "max_relative_gap_losses_f32_f64": loss_gap,
        "max_relative_gap_weights_f32_f64": weight_gap,
        "standardization": {"mean": [float(v) for v in mean], "std": [float(v) for v in std]},
        "final_f32": tensors(state32),
        "final_f64": tensors(state64),
        "predict": {
            "rows": list(range(PREDICT_ROWS)),
            "raw_inputs": [[float(v) for v in r] for r in raw[rows]],
            "standardized_inputs_f32": [floats(r) for r in x32.reshape(PREDICT_ROWS, -1)],
            "labels": [int(v) for v in labels[rows]],
            "logits_f32": [floats(r) for r in logits32],
            "logits_f32_from_raw": [floats(r) for r in logits32_raw],
            "logits_f64": [floats(r) for r in logits64],
        },
    }
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(record, f, indent=None, separators=(",", ":"))
        f.write("\n")
    summary[name] = {
        "first_loss": losses32[0], "last_loss": losses32[-1],
        "loss_gap": loss_gap, "weight_gap": weight_gap,
        "state": " ".join(f"{k}{list(v.shape)}" for k, v in init.items()),
    }


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    raw, labels = digits()
    assert raw.shape == (1797, 64), raw.shape
    mean, std = standardizer(raw)
    summary = {}
    for name, arch in NETWORKS.items():
        write_network(name, arch, raw, labels, mean, std, summary)
    constant = [j for j in range(raw.shape[1]) if (raw[:, j] == raw[0, j]).all()]
    print(f"wrote {OUT} with torch {torch.__version__}; constant pixels {constant}")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
