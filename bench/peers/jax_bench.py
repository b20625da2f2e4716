"""JAX (jit, CPU) on the workloads W1-W5 of shared/WORKLOADS.md.

Usage: python jax_bench.py W1|W2|W3|W4|W5h64|...|W5b1024 [--threads 2] [--steps N]
The whole step (forward, loss, backward, SGD update) is one jitted
function, as a JAX user would write it.
"""
import argparse
import json
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int)
    a = ap.parse_args()
    os.environ["XLA_FLAGS"] = (
        f"--xla_cpu_multi_thread_eigen={'true' if a.threads > 1 else 'false'} "
        f"intra_op_parallelism_threads={a.threads}"
    )
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_platforms", "cpu")
    import workloads as wl

    if a.workload not in wl.WORKLOADS:
        ap.error(f"unknown workload {a.workload!r} (expected one of {', '.join(wl.WORKLOADS)})")

    if a.workload == "W1":
        d = wl.W1
        params = [jnp.asarray(d[k]) for k in ("w1", "b1", "w2", "b2")]
        x, t = jnp.asarray(d["x"]), jnp.asarray(d["t"])
        lr = 0.5

        def loss_fn(p):
            h = jax.nn.sigmoid(x @ p[0].T + p[1])
            y = jax.nn.sigmoid(h @ p[2].T + p[3])
            return jnp.mean((y - t) ** 2)
    elif a.workload == "W2" or a.workload.startswith("W5"):
        x, labels, ws, bs = wl.classifier(a.workload)
        x, labels = jnp.asarray(x), jnp.asarray(labels)
        params = [jnp.asarray(v) for pair in zip(ws, bs) for v in pair]
        lr = 0.01

        def loss_fn(p):
            h = x
            for k in range(3):
                h = h @ p[2 * k] + p[2 * k + 1]
                if k < 2:
                    h = jax.nn.relu(h)
            logp = jax.nn.log_softmax(h, axis=1)
            return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))
    elif a.workload == "W4":
        x, labels, convs, cbs, ws, bs = wl.w4()
        x, labels = jnp.asarray(x), jnp.asarray(labels)
        params = [jnp.asarray(v) for pair in zip(convs, cbs) for v in pair]
        params += [jnp.asarray(v) for pair in zip(ws, bs) for v in pair]
        lr = 0.01

        def conv(h, w, b, pad):
            # NCHW images, OIHW weights (PyTorch's layout), stride 1.
            h = jax.lax.conv_general_dilated(h, w, (1, 1), [(pad, pad), (pad, pad)],
                                             dimension_numbers=("NCHW", "OIHW", "NCHW"))
            return h + b[None, :, None, None]

        def pool(h):  # max-pool 2x2, stride 2
            return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

        def loss_fn(p):
            h = pool(jax.nn.relu(conv(x, p[0], p[1], 2)))
            h = pool(jax.nn.relu(conv(h, p[2], p[3], 0)))
            h = h.reshape(h.shape[0], -1)  # flatten over (C, H, W)
            for k in range(3):
                h = h @ p[4 + 2 * k] + p[5 + 2 * k]
                if k < 2:
                    h = jax.nn.relu(h)
            logp = jax.nn.log_softmax(h, axis=1)
            return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))
    else:
        x, y, ws, bs = wl.w3()
        x, y = jnp.asarray(x), jnp.asarray(y)
        params = [jnp.asarray(v) for pair in zip(ws, bs) for v in pair]
        lr = 0.01

        def loss_fn(p):
            h = x
            for k in range(33):
                h = h @ p[2 * k] + p[2 * k + 1]
                if k < 32:
                    h = jnp.tanh(h)
            return jnp.mean((h - y) ** 2)

    @jax.jit
    def step(p):
        loss, g = jax.value_and_grad(loss_fn)(p)
        return [pi - lr * gi for pi, gi in zip(p, g)], loss

    loss_only = jax.jit(loss_fn)
    warm, timed = wl.STEPS[a.workload]
    timed = a.steps or timed
    params, first = step(params)
    after1 = float(loss_only(params))
    for _ in range(warm - 1):
        params, _ = step(params)
    after_warm = float(loss_only(params))
    jax.block_until_ready(params)
    start = time.perf_counter()
    for _ in range(timed):
        params, loss = step(params)
    jax.block_until_ready(params)
    secs = time.perf_counter() - start
    out = dict(engine="jax", version=jax.__version__, workload=a.workload, steps_per_s=timed / secs,
               loss_first=float(first), loss_last=float(loss_only(params)), peak_rss_kb=wl.peak_rss_kb())
    if a.workload == "W4":
        out.update(loss_after_1=after1)
    if a.workload.startswith("W5"):
        kind, size = wl.w5_point(a.workload)
        out.update(sweep=kind, size=size, samples_per_s=out["steps_per_s"] * (128 if kind == "width" else size))
    if a.workload == "W1":
        out.update(loss_after_1=after1, loss_after_1000=after_warm)
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
