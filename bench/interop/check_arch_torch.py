#!/usr/bin/env python3
"""Checks a model file chainrule wrote for an architecture string against
PyTorch, and holds the one PyTorch reading of chainrule's architecture strings
(``crates/chainrule-nn/src/arch.rs``) that ``arch_fixtures.py`` also uses::

    python3 bench/interop/check_arch_torch.py runs/x/model.safetensors \\
        "conv2d(4,3,pad=1),batchnorm2d,relu,maxpool2d(2),flatten,linear(10)" \\
        [--chainrule target/release/chainrule] [--rows 5] [--input-shape 1,8,8]

It builds ``nn.Sequential`` for the string (one position per layer,
activations included; ``residual(...)`` is :class:`Residual`, whose body is an
``nn.Sequential`` named ``body``), loads the file's tensors with
``load_state_dict(strict=True)`` (so every name and shape must match
PyTorch's ``state_dict``, buffers included), and compares ``model.eval()``'s
outputs with ``chainrule predict --model FILE --input ROW --json`` on the first
rows of the digits set (raw pixels; PyTorch standardizes them with the
``input_mean``/``input_std`` the file records, in f64, then rounds to the
file's float type, as chainrule does). Prints PASS or FAIL and exits 0 or 1.

If ARCH is left out, the file's ``arch`` metadata is used (if chainrule
records one under that name). The input shape is ``--input-shape``, else the
file's ``input_shape`` metadata, else ``1,s,s`` for s*s features when the
network starts with a convolution or pooling layer, else the feature count.
"""

import argparse
import gzip
import json
import math
import os
import subprocess
import sys

import torch
from torch import nn

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DIGITS = os.path.join(ROOT, "crates", "chainrule-nn", "data", "digits.csv.gz")


# --------------------------------------------------------------------------
# The modules chainrule's layers map to that torch.nn lacks.


class Residual(nn.Module):
    """``x + body(x)``; ``residual(...)`` in an architecture string."""

    def __init__(self, *body):
        super().__init__()
        self.body = nn.Sequential(*body)

    def forward(self, x):
        return x + self.body(x)


class GlobalAvgPool2d(nn.Module):
    """``globalavgpool2d``: the mean over the rows and columns, [N, C, H, W]
    to [N, C] (``AdaptiveAvgPool2d(1)`` and flatten, in one position)."""

    def forward(self, x):
        return x.mean((2, 3))


# --------------------------------------------------------------------------
# The parser: a sequence is layers separated by commas; a layer is a name,
# optionally followed by (arguments): positional values first, then
# name=value; residual's arguments are a sequence of its own.


class ArchError(ValueError):
    pass


def _split_top(text, at):
    """Splits at the commas outside parentheses: [(piece, start offset)]."""
    pieces, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                raise ArchError(f"unbalanced ')' at character {at + i}")
        elif c == "," and depth == 0:
            pieces.append((text[start:i], at + start))
            start = i + 1
    if depth != 0:
        raise ArchError(f"unbalanced '(' in '{text}'")
    pieces.append((text[start:], at + start))
    return pieces


def parse_arch(text, at=0):
    """The layers of an architecture string: a list of (name, positional
    arguments, named arguments) where a residual's positional argument list is
    its body (itself such a list)."""
    layers = []
    for piece, start in _split_top(text, at):
        lead = len(piece) - len(piece.lstrip())
        piece = piece.strip()
        start += lead
        if not piece:
            raise ArchError(f"empty layer at character {start}")
        if "(" in piece:
            if not piece.endswith(")"):
                raise ArchError(f"'{piece}' at character {start}: text after ')'")
            name, inner = piece[: piece.index("(")].strip(), piece[piece.index("(") + 1 : -1]
            inner_at = start + piece.index("(") + 1
        else:
            name, inner, inner_at = piece, None, start
        name = name.lower()
        if name == "residual":
            if inner is None or not inner.strip():
                raise ArchError(f"residual at character {start} needs a body")
            layers.append(("residual", parse_arch(inner, inner_at), {}))
            continue
        positional, named = [], {}
        if inner is not None and inner.strip():
            for arg, arg_at in _split_top(inner, inner_at):
                arg = arg.strip()
                if "=" in arg:
                    key, value = (s.strip() for s in arg.split("=", 1))
                    named[key.lower()] = value
                elif named:
                    raise ArchError(f"positional '{arg}' after a named argument at {arg_at}")
                else:
                    positional.append(arg)
        layers.append((name, positional, named))
    return layers


def _pair(value):
    """'3' -> (3, 3); '3x5' -> (3, 5)."""
    if isinstance(value, (tuple, list)):
        return tuple(value)
    parts = str(value).lower().split("x")
    if len(parts) == 1:
        return (int(parts[0]), int(parts[0]))
    if len(parts) == 2:
        return (int(parts[0]), int(parts[1]))
    raise ArchError(f"'{value}' is not a size")


def _bool(value):
    v = str(value).lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise ArchError(f"'{value}' is not true or false")


def _take(named, known):
    unknown = set(named) - set(known)
    if unknown:
        raise ArchError(f"unknown arguments {sorted(unknown)}")


def _kernel(positional, named, index):
    if "kh" in named or "kw" in named:
        return (int(named["kh"]), int(named["kw"]))
    if "k" in named:
        return _pair(named["k"])
    if "kernel" in named:
        return _pair(named["kernel"])
    if len(positional) > index:
        return _pair(positional[index])
    raise ArchError("a kernel size is needed")


def _norm(named, extra=()):
    _take(named, ("eps", "momentum", "affine") + tuple(extra))
    return (
        float(named.get("eps", 1e-5)),
        float(named.get("momentum", 0.1)),
        _bool(named.get("affine", "true")),
    )


def _layer(name, positional, named, shape):
    """(module, output shape) of one layer for an input of `shape` (without
    the batch dimension)."""
    if name == "residual":
        body, out = _sequence(positional, shape)
        if tuple(out) != tuple(shape):
            raise ArchError(f"residual body changes the shape {shape} to {out}")
        return Residual(*body), shape
    if name == "linear":
        _take(named, ("bias", "out"))
        out = int(named.get("out", positional[0] if positional else 0))
        return nn.Linear(shape[-1], out, bias=_bool(named.get("bias", "true"))), shape[:-1] + [out]
    if name == "conv2d":
        _take(named, ("out", "k", "kh", "kw", "kernel", "stride", "pad", "padding",
                      "dilation", "groups", "bias"))
        out = int(named.get("out", positional[0] if positional else 0))
        module = nn.Conv2d(
            shape[0],
            out,
            _kernel(positional, named, 1),
            stride=_pair(named.get("stride", 1)),
            padding=_pair(named.get("pad", named.get("padding", 0))),
            dilation=_pair(named.get("dilation", 1)),
            groups=int(named.get("groups", 1)),
            bias=_bool(named.get("bias", "true")),
        )
    elif name in ("maxpool2d", "avgpool2d"):
        _take(named, ("k", "kh", "kw", "kernel", "stride", "pad", "padding"))
        kernel = _kernel(positional, named, 0)
        stride = _pair(named["stride"]) if "stride" in named else kernel
        pad = _pair(named.get("pad", named.get("padding", 0)))
        if name == "maxpool2d":
            module = nn.MaxPool2d(kernel, stride, pad)
        else:
            module = nn.AvgPool2d(kernel, stride, pad, count_include_pad=True)
    elif name == "globalavgpool2d":
        module = GlobalAvgPool2d()
    elif name == "flatten":
        module = nn.Flatten()
    elif name in ("batchnorm1d", "batchnorm2d"):
        eps, momentum, affine = _norm(named)
        cls = nn.BatchNorm1d if name == "batchnorm1d" else nn.BatchNorm2d
        module = cls(shape[0], eps=eps, momentum=momentum, affine=affine)
    elif name == "layernorm":
        eps, _, affine = _norm(named, ("axes",))
        axes = int(named.get("axes", 1))
        module = nn.LayerNorm(shape[-axes:], eps=eps, elementwise_affine=affine)
    elif name == "dropout":
        module = nn.Dropout(float(named.get("p", positional[0] if positional else 0.5)))
    elif name == "relu":
        module = nn.ReLU()
    elif name == "sigmoid":
        module = nn.Sigmoid()
    elif name == "tanh":
        module = nn.Tanh()
    elif name == "identity":
        module = nn.Identity()
    elif name == "leaky_relu":
        slope = named.get("slope", positional[0] if positional else 0.01)
        module = nn.LeakyReLU(float(slope))
    else:
        raise ArchError(f"unknown layer '{name}'")
    with torch.no_grad():  # the output shape, from a probe (draws no random numbers)
        was = module.training
        module.eval()
        probe = module(torch.zeros([2] + list(shape)))
        module.train(was)
    return module, list(probe.shape[1:])


def _sequence(layers, shape):
    modules = []
    shape = list(shape)
    for name, positional, named in layers:
        module, shape = _layer(name, positional, named, shape)
        modules.append(module)
    return modules, shape


def build_model(arch, input_shape):
    """``nn.Sequential`` for an architecture string and an input shape
    (without the batch dimension), initialized by PyTorch's defaults in layer
    order (so ``torch.manual_seed`` before it fixes the weights)."""
    modules, _ = _sequence(parse_arch(arch), list(input_shape))
    return nn.Sequential(*modules)


# --------------------------------------------------------------------------
# The check.


def digits_rows(count):
    with gzip.open(DIGITS, "rt") as f:
        rows = [[float(v) for v in line.split(",")] for line in f.read().split("\n") if line.strip()]
    return [row[:-1] for row in rows[:count]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("arch", nargs="?")
    parser.add_argument("--chainrule", default=os.path.join(ROOT, "target", "release", "chainrule"))
    parser.add_argument("--rows", type=int, default=5)
    parser.add_argument("--input-shape")
    parser.add_argument("--tol", type=float, default=1e-4, help="|a - b| <= tol * (1 + |b|)")
    args = parser.parse_args()

    from safetensors import safe_open

    with safe_open(args.model, framework="pt") as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}
    arch = args.arch or meta.get("arch")
    if not arch:
        sys.exit("no ARCH given and the file records none")
    rows = digits_rows(args.rows)
    features = len(rows[0])
    if args.input_shape or meta.get("input_shape"):
        text = (args.input_shape or meta["input_shape"]).strip("[] ")
        shape = [int(v) for v in text.replace("x", ",").split(",")]
    elif parse_arch(arch)[0][0] in ("conv2d", "maxpool2d", "avgpool2d") and math.isqrt(features) ** 2 == features:
        shape = [1, math.isqrt(features), math.isqrt(features)]
    else:
        shape = [features]
    model = build_model(arch, shape)
    dtype = next(v.dtype for v in state.values() if v.is_floating_point())
    model = model.to(dtype)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        print(f"FAIL: the file's tensors are not PyTorch's state_dict for this architecture: {e}")
        sys.exit(1)
    model.eval()

    mean = [float(v) for v in meta["input_mean"].split(",")] if "input_mean" in meta else None
    std = [float(v) for v in meta["input_std"].split(",")] if "input_std" in meta else None
    worst, ok = 0.0, True
    for row in rows:
        x = row if mean is None else [(v - m) / s for v, m, s in zip(row, mean, std)]
        with torch.no_grad():
            ours = model(torch.tensor(x, dtype=torch.float64).to(dtype).reshape([1] + shape))[0]
        text = ",".join(repr(v) for v in row)
        run = subprocess.run(
            [args.chainrule, "predict", "--model", args.model, "--input", text, "--json"],
            capture_output=True, text=True,
        )
        if run.returncode != 0:
            print(f"FAIL: chainrule predict exited {run.returncode}: {run.stderr.strip()}")
            sys.exit(1)
        theirs = json.loads(run.stdout)["output"]
        ours = [float(v) for v in ours.double().tolist()]
        if len(theirs) != len(ours):
            print(f"FAIL: chainrule gives {len(theirs)} outputs, PyTorch {len(ours)}")
            sys.exit(1)
        for a, b in zip(theirs, ours):
            gap = abs(a - b) / (1 + abs(b))
            worst = max(worst, gap)
            ok &= gap <= args.tol
    print(f"{'PASS' if ok else 'FAIL'}: {len(rows)} rows, largest |chainrule - torch| / (1 + |torch|) = {worst:.3g} (tol {args.tol:g})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
