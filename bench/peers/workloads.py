"""The benchmark workloads of shared/WORKLOADS.md for the Python peers.

Data and weights come from the same counter-based generator as chainrule
(SplitMix64 finaliser), so every engine starts from bit-identical f32
arrays and must print the same losses.
"""
import numpy as np

M64 = (1 << 64) - 1


def _mix(z):
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z ^ (z >> np.uint64(30))
        z = z * np.uint64(0xBF58476D1CE4E5B9)
        z = z ^ (z >> np.uint64(27))
        z = z * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def u64(seed, n):
    i = np.arange(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) * np.uint64(1 << 32) + (i + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
    return _mix(z)


def unit(seed, n):
    return ((u64(seed, n) >> np.uint64(40)).astype(np.float64) * 2.0**-24).astype(np.float32)


def sym(seed, n):
    return (2.0 * unit(seed, n).astype(np.float64) - 1.0).astype(np.float32)


def kaiming(fan_in, fan_out, seed):
    bound = np.float32(np.sqrt(6.0 / fan_in))
    return (sym(seed, fan_in * fan_out) * bound).reshape(fan_in, fan_out)


def w2():
    x = unit(1, 128 * 784).reshape(128, 784)
    labels = (u64(2, 128) % np.uint64(10)).astype(np.int64)
    sizes = [784, 512, 256, 10]
    weights = [kaiming(sizes[k], sizes[k + 1], 3 + k) for k in range(3)]
    biases = [np.zeros(s, np.float32) for s in sizes[1:]]
    return x, labels, weights, biases


def w3():
    x = sym(11, 32 * 64).reshape(32, 64)
    y = sym(12, 32).reshape(32, 1)
    sizes = [64] * 33 + [1]
    weights = [kaiming(sizes[k], sizes[k + 1], 100 + k) for k in range(33)]
    biases = [np.zeros(s, np.float32) for s in sizes[1:]]
    return x, y, weights, biases


def kaiming_conv(out, inp, k, seed):
    """A convolution weight [out, in, k, k] with fan-in in*k*k (PyTorch's layout)."""
    fan_in = inp * k * k
    bound = np.float32(np.sqrt(6.0 / fan_in))
    return (sym(seed, out * fan_in) * bound).reshape(out, inp, k, k)


def w4():
    """LeNet-5: images [64, 1, 28, 28], conv weights [out, in, 5, 5], dense [in, out]."""
    x = unit(21, 64 * 28 * 28).reshape(64, 1, 28, 28)
    labels = (u64(22, 64) % np.uint64(10)).astype(np.int64)
    convs = [kaiming_conv(6, 1, 5, 23), kaiming_conv(16, 6, 5, 24)]
    conv_biases = [np.zeros(6, np.float32), np.zeros(16, np.float32)]
    sizes = [400, 120, 84, 10]
    weights = [kaiming(sizes[k], sizes[k + 1], 25 + k) for k in range(3)]
    biases = [np.zeros(s, np.float32) for s in sizes[1:]]
    return x, labels, convs, conv_biases, weights, biases


# W5's sweep points: "W5h<width>" (256-h-h-10 at batch 128) and "W5b<batch>"
# (W2's 784-512-256-10 at that batch), in the order chainrule's bench runs them.
W5_POINTS = ["W5h64", "W5h256", "W5h1024", "W5h4096", "W5b1", "W5b16", "W5b128", "W5b1024"]


def w5_point(name):
    """("width" | "batch", size) of a W5 point name such as W5h1024 or W5b16."""
    if name not in W5_POINTS:
        raise ValueError(f"unknown W5 point {name!r} (expected one of {', '.join(W5_POINTS)})")
    return ("width" if name[2] == "h" else "batch"), int(name[3:])


def w5(name):
    """W5 point `name`: x = unit(31, .) [batch, in], labels = label(32, .), layer k kaiming seed 33 + k."""
    kind, size = w5_point(name)
    batch, sizes = (128, [256, size, size, 10]) if kind == "width" else (size, [784, 512, 256, 10])
    x = unit(31, batch * sizes[0]).reshape(batch, sizes[0])
    labels = (u64(32, batch) % np.uint64(10)).astype(np.int64)
    weights = [kaiming(sizes[k], sizes[k + 1], 33 + k) for k in range(3)]
    biases = [np.zeros(s, np.float32) for s in sizes[1:]]
    return x, labels, weights, biases


def classifier(name):
    """The data of a 3-layer ReLU classifier workload: W2 or a W5 point."""
    return w2() if name == "W2" else w5(name)


W1 = dict(
    w1=np.array([[0.15, 0.20], [0.25, 0.30]], np.float32),
    b1=np.array([0.35, 0.35], np.float32),
    w2=np.array([[0.40, 0.45]], np.float32),
    b2=np.array([0.60], np.float32),
    x=np.array([[0.05, 0.10]], np.float32),
    t=np.array([[1.0]], np.float32),
)

STEPS = {"W1": (1000, 100000), "W2": (20, 200), "W3": (20, 1000), "W4": (20, 200)}
STEPS.update({p: (10, 20 if p in ("W5h4096", "W5b1024") else 100) for p in W5_POINTS})
WORKLOADS = ["W1", "W2", "W3", "W4"] + W5_POINTS


def peak_rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None
