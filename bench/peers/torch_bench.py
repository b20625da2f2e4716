"""PyTorch (eager, CPU) on the workloads W1-W5 of shared/WORKLOADS.md.

Usage: python torch_bench.py W1|W2|W3|W4|W5h64|...|W5b1024 [--threads 2] [--steps N]
Prints one JSON object: workload, steps_per_s, loss_first, loss_last,
peak_rss_kb (and for W1 the loss after 1 and 1,000 steps).
"""
import argparse
import json
import time

import torch

import workloads as wl


def build(name):
    if name == "W1":
        d = wl.W1
        params = [torch.tensor(d[k], requires_grad=True) for k in ("w1", "b1", "w2", "b2")]
        x, t = torch.tensor(d["x"]), torch.tensor(d["t"])

        def loss_fn():
            w1, b1, w2, b2 = params
            h = torch.sigmoid(x @ w1.T + b1)
            y = torch.sigmoid(h @ w2.T + b2)
            return ((y - t) ** 2).mean()

        return params, loss_fn, 0.5
    if name == "W2" or name.startswith("W5"):
        x, labels, ws, bs = wl.classifier(name)
        x, labels = torch.tensor(x), torch.tensor(labels)
        params = [torch.tensor(a, requires_grad=True) for pair in zip(ws, bs) for a in pair]

        def loss_fn():
            h = x
            for k in range(3):
                h = h @ params[2 * k] + params[2 * k + 1]
                if k < 2:
                    h = torch.relu(h)
            return torch.nn.functional.cross_entropy(h, labels)

        return params, loss_fn, 0.01
    if name == "W4":
        x, labels, convs, cbs, ws, bs = wl.w4()
        x, labels = torch.tensor(x), torch.tensor(labels)
        arrays = [a for pair in zip(convs, cbs) for a in pair] + [a for pair in zip(ws, bs) for a in pair]
        params = [torch.tensor(a, requires_grad=True) for a in arrays]
        F = torch.nn.functional

        def loss_fn():
            h = F.max_pool2d(F.relu(F.conv2d(x, params[0], params[1], padding=2)), 2)
            h = F.max_pool2d(F.relu(F.conv2d(h, params[2], params[3])), 2)
            h = torch.flatten(h, 1)
            for k in range(3):
                h = h @ params[4 + 2 * k] + params[5 + 2 * k]
                if k < 2:
                    h = torch.relu(h)
            return F.cross_entropy(h, labels)

        return params, loss_fn, 0.01
    x, y, ws, bs = wl.w3()
    x, y = torch.tensor(x), torch.tensor(y)
    params = [torch.tensor(a, requires_grad=True) for pair in zip(ws, bs) for a in pair]

    def loss_fn():
        h = x
        for k in range(33):
            h = h @ params[2 * k] + params[2 * k + 1]
            if k < 32:
                h = torch.tanh(h)
        return ((h - y) ** 2).mean()

    return params, loss_fn, 0.01


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload", choices=wl.WORKLOADS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    params, loss_fn, lr = build(a.workload)

    def step():
        for p in params:
            p.grad = None
        loss = loss_fn()
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
        return loss.item()

    warm, timed = wl.STEPS[a.workload]
    timed = a.steps or timed
    first = step()
    with torch.no_grad():
        after1 = loss_fn().item()
    for _ in range(warm - 1):
        step()
    with torch.no_grad():
        after_warm = loss_fn().item()
    start = time.perf_counter()
    for _ in range(timed):
        step()
    secs = time.perf_counter() - start
    with torch.no_grad():
        last = loss_fn().item()
    out = dict(engine="pytorch", version=torch.__version__, workload=a.workload, steps_per_s=timed / secs,
               loss_first=first, loss_last=last, peak_rss_kb=wl.peak_rss_kb())
    if a.workload == "W4":
        out.update(loss_after_1=after1)
    if a.workload.startswith("W5"):
        kind, size = wl.w5_point(a.workload)
        out.update(sweep=kind, size=size, samples_per_s=out["steps_per_s"] * (128 if kind == "width" else size))
    if a.workload == "W1":
        out.update(loss_after_1=after1, loss_after_1000=after_warm)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
