#!/usr/bin/env python3
"""Writes the PyTorch fixtures that chainrule's tests compare against.

Every file under ``crates/chainrule-nn/tests/data/torch/`` is written by this
script, with PyTorch, so that the Rust tests can check chainrule against
numbers another engine computed without needing Python themselves::

    python3 bench/interop/torch_fixtures.py            # rewrites the folder

What it writes:

* ``mlp_<activation>.safetensors``: ``torch.nn.Sequential(Linear(4, 6), act,
  Linear(6, 5), act, Linear(5, 3))`` after ``torch.manual_seed(seed)``, saved
  by ``safetensors.torch.save_file`` with the metadata chainrule's ``predict``
  reads (``layers``, ``activation``, ``output_activation``, ``loss``), for
  each hidden activation chainrule knows; ``plain_relu.safetensors``: the
  same for ReLU without any metadata (a bare ``state_dict``, as most PyTorch
  users save it); ``double_tanh.safetensors``: a float64 model.
  ``predict.json`` records, for each file, every tensor's values, and the
  outputs (and softmax probabilities) PyTorch computes for fixed inputs.
* ``iris_sgd_init.safetensors`` and ``iris_sgd.json``: the initial weights of
  ``Sequential(Linear(4, 8), Tanh(), Linear(8, 3))`` and the loss of every
  mini-batch step of ``torch.optim.SGD`` (momentum 0, and momentum 0.9) with
  ``CrossEntropyLoss`` on the embedded iris set, standardized as chainrule
  standardizes built-in sets (population standard deviation over the
  training rows, here all 150: ``--test-fraction 0``), in file order
  (``--no-shuffle``), batches of 16 with the last partial batch kept. The
  recorded loss of a step is the batch loss before that step's update, as
  chainrule's ``metrics.json`` records it.

* ``fingerprints.json``: the data fingerprint a model file records (see
  ``crates/chainrule-nn/src/model_io/record.rs``) of the embedded iris set,
  computed here from its documented byte layout with the ``xxhash`` package
  (the reference C implementation), independently of chainrule.

The versions of Python, PyTorch, safetensors, NumPy (and xxhash) that wrote
the files are recorded in the JSON files.
"""

import json
import os
import platform
import sys

import numpy as np
import safetensors
import safetensors.torch
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_torch import parse_activation, torch_model  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "crates", "chainrule-nn", "tests", "data", "torch")
IRIS = os.path.join(ROOT, "crates", "chainrule-nn", "data", "iris.csv")

LAYERS = [4, 6, 5, 3]
INPUTS = [
    [0.5, -1.0, 2.0, 0.25],
    [0.0, 0.0, 0.0, 0.0],
    [-3.5, 1.25, 0.75, -0.125],
]
# (file stem, chainrule activation name, seed, dtype, with metadata)
PREDICT_MODELS = [
    ("mlp_relu", "relu", 1, torch.float32, True),
    ("mlp_tanh", "tanh", 2, torch.float32, True),
    ("mlp_sigmoid", "sigmoid", 3, torch.float32, True),
    ("mlp_leaky_relu", "leaky_relu:0.2", 4, torch.float32, True),
    ("mlp_identity", "identity", 5, torch.float32, True),
    ("plain_relu", "relu", 6, torch.float32, False),
    ("double_tanh", "tanh", 7, torch.float64, True),
]

SGD_HIDDEN = 8
SGD_LR = 0.1
SGD_BATCH = 16
SGD_EPOCHS = 3
SGD_SEED = 11


def versions():
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
        "script": "bench/interop/torch_fixtures.py",
    }


def floats(tensor):
    """The values as Python floats (exact: f32 and f64 both fit in a float)."""
    return [float(v) for v in tensor.detach().double().reshape(-1).tolist()]


def write_predict_fixtures():
    models = []
    for stem, activation, seed, dtype, with_metadata in PREDICT_MODELS:
        torch.manual_seed(seed)
        model = torch_model(LAYERS, parse_activation(activation)).to(dtype)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        metadata = None
        if with_metadata:
            metadata = {
                "format": "chainrule-mlp",
                "layers": ",".join(str(n) for n in LAYERS),
                "activation": activation,
                "output_activation": "identity",
                "loss": "cce",
            }
        file = f"{stem}.safetensors"
        safetensors.torch.save_file(state, os.path.join(OUT, file), metadata=metadata)
        with torch.no_grad():
            x = torch.tensor(INPUTS, dtype=dtype)
            out = model(x)
            probabilities = torch.softmax(out, dim=1)
        models.append(
            {
                "file": file,
                "activation": activation,
                "dtype": str(dtype).replace("torch.", ""),
                "metadata": metadata,
                "layers": LAYERS,
                "tensors": [
                    {"name": k, "shape": list(v.shape), "values": floats(v)}
                    for k, v in sorted(state.items())
                ],
                "inputs": INPUTS,
                "outputs": [floats(row) for row in out],
                "probabilities": [floats(row) for row in probabilities],
                "classes": [int(k) for k in out.argmax(dim=1)],
            }
        )
    record = {"versions": versions(), "models": models}
    with open(os.path.join(OUT, "predict.json"), "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")


def iris_standardized():
    """The iris rows standardized as chainrule does for a built-in set:
    (x - mean) / std with the population std, in f64, then f32."""
    with open(IRIS) as f:
        lines = f.read().strip().splitlines()[1:]  # the first line is a header
    rows = [[float(v) for v in line.split(",")] for line in lines]
    data = np.array(rows, dtype=np.float64)
    x, y = data[:, :-1], data[:, -1].astype(np.int64)
    mean = x.sum(axis=0) / len(x)
    std = np.sqrt(((x - mean) ** 2).sum(axis=0) / len(x))
    return torch.tensor((x - mean) / std, dtype=torch.float32), torch.tensor(y)


def sgd_losses(init_state, x, y, momentum):
    model = torch_model([4, SGD_HIDDEN, 3], ("tanh", None))
    model.load_state_dict(init_state)
    optimizer = torch.optim.SGD(model.parameters(), lr=SGD_LR, momentum=momentum)
    loss_fn = torch.nn.CrossEntropyLoss()
    losses = []
    for _ in range(SGD_EPOCHS):
        for start in range(0, len(x), SGD_BATCH):
            optimizer.zero_grad()
            loss = loss_fn(model(x[start : start + SGD_BATCH]), y[start : start + SGD_BATCH])
            losses.append(loss.item())
            loss.backward()
            optimizer.step()
    return losses


def write_sgd_fixtures():
    torch.manual_seed(SGD_SEED)
    model = torch_model([4, SGD_HIDDEN, 3], ("tanh", None))
    init_state = {k: v.clone().contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(init_state, os.path.join(OUT, "iris_sgd_init.safetensors"))
    x, y = iris_standardized()
    record = {
        "versions": versions(),
        "init": "iris_sgd_init.safetensors",
        "flags": [
            "--data", "iris", "--hidden", str(SGD_HIDDEN), "--activation", "tanh",
            "--loss", "cce", "--optimizer", "sgd", "--lr", str(SGD_LR),
            "--batch-size", str(SGD_BATCH), "--epochs", str(SGD_EPOCHS),
            "--no-shuffle", "--test-fraction", "0",
        ],
        "steps_per_epoch": (len(x) + SGD_BATCH - 1) // SGD_BATCH,
        "losses_momentum_0": sgd_losses(init_state, x, y, 0.0),
        "losses_momentum_0.9": sgd_losses(init_state, x, y, 0.9),
    }
    with open(os.path.join(OUT, "iris_sgd.json"), "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")


def iris_fingerprint():
    """XXH3-128 of: rows, features (u64), every feature (f64 bits), b"classes",
    the class count (u64), every label (u64); all little-endian."""
    import struct

    import xxhash

    with open(IRIS) as f:
        lines = f.read().strip().splitlines()[1:]
    rows = [[float(v) for v in line.split(",")] for line in lines]
    features = [v for row in rows for v in row[:-1]]
    labels = [int(row[-1]) for row in rows]
    h = xxhash.xxh3_128()
    h.update(struct.pack("<QQ", len(rows), len(rows[0]) - 1))
    h.update(struct.pack(f"<{len(features)}d", *features))
    h.update(b"classes")
    h.update(struct.pack("<Q", max(labels) + 1))
    h.update(struct.pack(f"<{len(labels)}Q", *labels))
    return f"xxh3-128:{h.hexdigest()}", xxhash.VERSION


def write_fingerprints():
    fingerprint, xxhash_version = iris_fingerprint()
    record = {"versions": {**versions(), "xxhash": xxhash_version}, "iris": fingerprint}
    with open(os.path.join(OUT, "fingerprints.json"), "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    write_predict_fixtures()
    write_sgd_fixtures()
    write_fingerprints()
    print(f"wrote {OUT} with torch {torch.__version__}")


if __name__ == "__main__":
    main()
