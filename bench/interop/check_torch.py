#!/usr/bin/env python3
"""Checks that chainrule model files and PyTorch understand each other.

Check mode (the default) loads a model file written by chainrule into
``torch.nn.Sequential(Linear, act, Linear, act, ..., Linear)`` with
``model.load_state_dict(safetensors.torch.load_file(path))`` (strict: every
name and shape must match), prints the output for an input vector, and
compares it with ``--expect`` when given::

    check_torch.py target/interop/model.safetensors --layers 4,8,3 \\
        --activation relu --input 0.5,-1,2,0.25 --expect 0.1,0.2,0.3

Write mode writes a model file from PyTorch, with PyTorch's default
initialisation after ``torch.manual_seed(SEED)``, for chainrule to read::

    check_torch.py --write /tmp/torch.safetensors --layers 4,8,3 \\
        --activation relu --seed 0 --input 0.5,-1,2,0.25

Without PyTorch (or with ``--backend numpy``) the same checks run with
``safetensors.numpy`` and a NumPy forward pass: the names, shapes and dtypes
are checked against what ``Sequential`` expects, but ``load_state_dict``
itself is not exercised.

Exit status: 0 when everything matches, 1 on any mismatch or load error,
2 on bad arguments.
"""

import argparse
import math
import sys

# The activations chainrule knows, by their command-line names.
ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "leaky_relu:SLOPE")


def parse_floats(text):
    return [float(v) for v in text.split(",") if v.strip()]


def parse_layers(text):
    layers = [int(v) for v in text.split(",")]
    if len(layers) < 2 or any(n <= 0 for n in layers):
        raise argparse.ArgumentTypeError("need at least two positive layer sizes")
    return layers


def parse_activation(text):
    name = text.strip().lower().replace("-", "_")
    if name in ("identity", "sigmoid", "tanh", "relu"):
        return name, None
    if name in ("leaky_relu", "leakyrelu"):
        return "leaky_relu", 0.01
    if name.startswith("leaky_relu:"):
        return "leaky_relu", float(name.split(":", 1)[1])
    raise argparse.ArgumentTypeError(
        f"unknown activation '{text}' (expected one of {', '.join(ACTIVATIONS)})"
    )


def module_stride(activation):
    """Modules per layer: Linear and its activation, or the Linear alone
    when the activation is the identity (chainrule, like a user writing
    ``Sequential(Linear, Linear)``, puts no module there), so the Linear
    layers are modules 0, 2, 4, ... or 0, 1, 2, ..."""
    return 1 if activation[0] == "identity" else 2


def expected_entries(layers, activation):
    """The state_dict names and shapes of the Sequential, in module order."""
    stride = module_stride(activation)
    entries = []
    for i, (fan_in, fan_out) in enumerate(zip(layers, layers[1:])):
        entries.append((f"{stride * i}.weight", (fan_out, fan_in)))
        entries.append((f"{stride * i}.bias", (fan_out,)))
    return entries


def fail(message):
    print(f"MISMATCH: {message}", file=sys.stderr)
    sys.exit(1)


def compare_output(output, expect, tol):
    if expect is None:
        return
    if len(expect) != len(output):
        fail(f"output has {len(output)} values, expected {len(expect)}")
    for i, (got, want) in enumerate(zip(output, expect)):
        if not (abs(got - want) <= tol * (1.0 + abs(want))):
            fail(f"output[{i}] = {got!r}, expected {want!r} (tolerance {tol})")
    print(f"output matches the expected values within {tol}")


# ----------------------------------------------------------------- PyTorch


def torch_model(layers, activation):
    import torch

    name, slope = activation
    modules = []
    for i, (fan_in, fan_out) in enumerate(zip(layers, layers[1:])):
        if i > 0 and name != "identity":
            modules.append(
                {
                    "sigmoid": lambda: torch.nn.Sigmoid(),
                    "tanh": lambda: torch.nn.Tanh(),
                    "relu": lambda: torch.nn.ReLU(),
                    "leaky_relu": lambda: torch.nn.LeakyReLU(slope),
                }[name]()
            )
        modules.append(torch.nn.Linear(fan_in, fan_out))
    return torch.nn.Sequential(*modules)


def torch_forward(model, values):
    import torch

    with torch.no_grad():
        return model(torch.tensor(values, dtype=torch.float32)).tolist()


def torch_check(args):
    import safetensors
    import safetensors.torch
    import torch

    print(f"torch {torch.__version__}, safetensors {safetensors.__version__}")
    try:
        state = safetensors.torch.load_file(args.model)
        with safetensors.safe_open(args.model, framework="pt") as f:
            metadata = f.metadata()
    except Exception as e:  # noqa: BLE001 - any refusal is a mismatch
        fail(f"safetensors.torch.load_file refused {args.model}: {e}")
    print(f"metadata: {metadata}")
    for name, tensor in state.items():
        print(f"  {name}: {tensor.dtype} {tuple(tensor.shape)}")
        if tensor.dtype != torch.float32:
            fail(f"tensor {name} has dtype {tensor.dtype}, expected torch.float32")

    model = torch_model(args.layers, args.activation)
    try:
        model.load_state_dict(state, strict=True)
    except Exception as e:  # noqa: BLE001
        fail(f"load_state_dict(strict=True) failed: {e}")
    print("load_state_dict(strict=True): ok")
    for name, param in model.state_dict().items():
        if not torch.equal(param, state[name]):
            fail(f"parameter {name} differs from the file after loading")

    if args.input is not None:
        output = torch_forward(model, args.input)
        print("output: " + ",".join(repr(v) for v in output))
        compare_output(output, args.expect, args.tol)


def torch_write(args):
    import safetensors.torch
    import torch

    torch.manual_seed(args.seed)
    model = torch_model(args.layers, args.activation)
    safetensors.torch.save_file(model.state_dict(), args.write)
    print(f"wrote {args.write} with torch {torch.__version__}")
    for name, tensor in model.state_dict().items():
        print(f"  {name}: {tensor.dtype} {tuple(tensor.shape)}")
    if args.input is not None:
        output = torch_forward(model, args.input)
        print("output: " + ",".join(repr(v) for v in output))


# ------------------------------------------------------------------- NumPy


def numpy_activation(x, activation):
    import numpy as np

    name, slope = activation
    if name == "identity":
        return x
    if name == "sigmoid":
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.maximum(x, np.float32(0.0))
    return np.where(x > 0, x, np.float32(slope) * x).astype(np.float32)


def numpy_forward(state, layers, activation, values):
    import numpy as np

    x = np.asarray(values, dtype=np.float32)
    n = len(layers) - 1
    for i in range(n):
        k = module_stride(activation) * i
        x = state[f"{k}.weight"] @ x + state[f"{k}.bias"]
        if i + 1 < n:
            x = numpy_activation(x, activation)
    return [float(v) for v in x]


def numpy_check(args):
    import numpy as np
    import safetensors
    import safetensors.numpy

    print(f"numpy {np.__version__}, safetensors {safetensors.__version__} (no torch)")
    try:
        state = safetensors.numpy.load_file(args.model)
        with safetensors.safe_open(args.model, framework="np") as f:
            metadata = f.metadata()
    except Exception as e:  # noqa: BLE001
        fail(f"safetensors.numpy.load_file refused {args.model}: {e}")
    print(f"metadata: {metadata}")
    expected = dict(expected_entries(args.layers, args.activation))
    if set(state) != set(expected):
        fail(
            f"names differ: missing {sorted(set(expected) - set(state))}, "
            f"unexpected {sorted(set(state) - set(expected))}"
        )
    for name, shape in expected.items():
        array = state[name]
        print(f"  {name}: {array.dtype} {array.shape}")
        if array.dtype != np.float32:
            fail(f"tensor {name} has dtype {array.dtype}, expected float32")
        if tuple(array.shape) != shape:
            fail(f"tensor {name} has shape {array.shape}, expected {shape}")
    print("names, shapes and dtypes match the Sequential's state_dict")
    if args.input is not None:
        output = numpy_forward(state, args.layers, args.activation, args.input)
        print("output: " + ",".join(repr(v) for v in output))
        compare_output(output, args.expect, args.tol)


def numpy_write(args):
    import numpy as np
    import safetensors.numpy

    rng = np.random.default_rng(args.seed)
    state = {}
    for name, shape in expected_entries(args.layers, args.activation):
        fan_in = args.layers[int(name.split(".")[0]) // module_stride(args.activation)]
        bound = 1.0 / math.sqrt(fan_in)  # PyTorch's Linear bounds
        state[name] = rng.uniform(-bound, bound, size=shape).astype(np.float32)
    safetensors.numpy.save_file(state, args.write)
    print(f"wrote {args.write} with numpy {np.__version__} (no torch)")
    if args.input is not None:
        output = numpy_forward(state, args.layers, args.activation, args.input)
        print("output: " + ",".join(repr(v) for v in output))


# -------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", nargs="?", help="model file to check")
    parser.add_argument("--write", metavar="PATH", help="write a model file instead")
    parser.add_argument("--layers", type=parse_layers, required=True, help="e.g. 4,8,3")
    parser.add_argument(
        "--activation",
        type=parse_activation,
        default=("relu", None),
        help=f"one of {', '.join(ACTIVATIONS)} (default relu)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for --write")
    parser.add_argument("--input", type=parse_floats, help="input vector, e.g. 0.5,-1,2,0.25")
    parser.add_argument("--expect", type=parse_floats, help="expected output vector")
    parser.add_argument("--tol", type=float, default=1e-5, help="relative tolerance")
    parser.add_argument(
        "--backend",
        choices=("auto", "torch", "numpy"),
        default="auto",
        help="torch, or numpy when torch is missing (default auto)",
    )
    args = parser.parse_args()
    if (args.model is None) == (args.write is None):
        parser.error("give either a model file to check or --write PATH")
    if args.input is not None and len(args.input) != args.layers[0]:
        parser.error(f"--input has {len(args.input)} values, --layers starts with {args.layers[0]}")
    if args.expect is not None and args.input is None:
        parser.error("--expect needs --input")

    backend = args.backend
    if backend == "auto":
        try:
            import torch  # noqa: F401

            backend = "torch"
        except ImportError:
            print("torch is not installed: checking with safetensors.numpy", file=sys.stderr)
            backend = "numpy"

    if backend == "torch":
        torch_write(args) if args.write else torch_check(args)
    else:
        numpy_write(args) if args.write else numpy_check(args)


if __name__ == "__main__":
    main()
