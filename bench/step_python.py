"""One training step (forward, backward, Adam) of an MLP 784-256-256-10, ReLU, softmax
cross-entropy, batch 128, fp32 — the same step as bench/step_c.c and tolaria-bench — in numpy,
PyTorch (CPU) and JAX (jit). Thread counts are set by the caller's environment
(bench/run.sh) and by each framework's own knob below.

usage: python3 step_python.py numpy|torch|jax THREADS
prints: "<framework> threads=N ms_per_step=X best_ms=Y": the median and the minimum of 21
repetitions of STEPS steps (the minimum is the least disturbed figure on a shared machine)
"""
import os
import statistics
import sys
import time

IN, H, OUT, BATCH, ROWS, STEPS = 784, 256, 10, 128, 128 * 64, 66


def timed(step, steps=STEPS, reps=21):
    for _ in range(20):
        step(0)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        for s in range(steps):
            step(s)
        times.append((time.perf_counter() - start) * 1000 / steps)
    return statistics.median(times), min(times)


def run_numpy(threads):
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(threads)
    info = [(i.get("internal_api"), i.get("architecture"), i.get("num_threads")) for i in threadpool_info()]
    rng = np.random.default_rng(1)
    data = rng.standard_normal((ROWS, IN), dtype=np.float32)
    labels = rng.integers(0, OUT, ROWS)
    sizes = [(IN, H), (H, H), (H, OUT)]
    params = []
    for fan_in, fan_out in sizes:
        bound = np.sqrt(6.0 / fan_in)
        params += [rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32), np.zeros(fan_out, np.float32)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    t = [0]
    eye = np.eye(OUT, dtype=np.float32)

    def step(s):
        first = (s * BATCH) % ROWS
        idx = np.arange(first, first + BATCH) % ROWS
        x, y = data[idx], labels[idx]
        w1, b1, w2, b2, w3, b3 = params
        z1 = x @ w1.T + b1
        h1 = np.maximum(z1, 0)
        z2 = h1 @ w2.T + b2
        h2 = np.maximum(z2, 0)
        logits = h2 @ w3.T + b3
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = e / e.sum(axis=1, keepdims=True)
        dl = (probs - eye[y]) / BATCH
        gw3, gb3 = dl.T @ h2, dl.sum(0)
        dh2 = (dl @ w3) * (z2 > 0)
        gw2, gb2 = dh2.T @ h1, dh2.sum(0)
        dh1 = (dh2 @ w2) * (z1 > 0)
        gw1, gb1 = dh1.T @ x, dh1.sum(0)
        t[0] += 1
        c1, c2 = 1 - 0.9 ** t[0], 1 - 0.999 ** t[0]
        for p, g, mm, vv in zip(params, [gw1, gb1, gw2, gb2, gw3, gb3], m, v):
            mm *= 0.9
            mm += 0.1 * g
            vv *= 0.999
            vv += 0.001 * g * g
            p -= np.float32(1e-3) * (mm / c1) / (np.sqrt(vv / c2) + np.float32(1e-8))

    return timed(step), info


def run_torch(threads):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    data = torch.randn(ROWS, IN)
    labels = torch.randint(0, OUT, (ROWS,))
    model = torch.nn.Sequential(torch.nn.Linear(IN, H), torch.nn.ReLU(), torch.nn.Linear(H, H), torch.nn.ReLU(), torch.nn.Linear(H, OUT))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(s):
        first = (s * BATCH) % ROWS
        x, y = data[first:first + BATCH], labels[first:first + BATCH]
        optimizer.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    return timed(step), [("torch", torch.__version__, torch.get_num_threads())]


def run_jax(threads):
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(1)
    keys = jax.random.split(key, 5)
    data = jax.random.normal(keys[0], (ROWS, IN), jnp.float32)
    labels = jax.random.randint(keys[1], (ROWS,), 0, OUT)
    params = []
    for k, (fan_in, fan_out) in zip(keys[2:], [(IN, H), (H, H), (H, OUT)]):
        bound = (6.0 / fan_in) ** 0.5
        params.append((jax.random.uniform(k, (fan_out, fan_in), jnp.float32, -bound, bound), jnp.zeros(fan_out, jnp.float32)))
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = (params, zeros, zeros, jnp.zeros((), jnp.float32))

    def loss_fn(params, x, y):
        h = x
        for w, b in params[:-1]:
            h = jax.nn.relu(h @ w.T + b)
        w, b = params[-1]
        logits = h @ w.T + b
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    @jax.jit
    def train_step(state, x, y):
        params, m, v, t = state
        grads = jax.grad(loss_fn)(params, x, y)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, grads)
        v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, grads)
        c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
        params = jax.tree_util.tree_map(lambda p, m, v: p - 1e-3 * (m / c1) / (jnp.sqrt(v / c2) + 1e-8), params, m, v)
        return params, m, v, t

    holder = [state]
    batches = [(data[f:f + BATCH], labels[f:f + BATCH]) for f in range(0, ROWS, BATCH)]

    def step(s):
        x, y = batches[s % len(batches)]
        holder[0] = train_step(holder[0], x, y)
        jax.block_until_ready(holder[0][3])

    return timed(step), [("jax", jax.__version__, os.environ.get("XLA_FLAGS", ""))]


if __name__ == "__main__":
    framework, threads = sys.argv[1], int(sys.argv[2])
    (ms, best), info = {"numpy": run_numpy, "torch": run_torch, "jax": run_jax}[framework](threads)
    print(f"{framework} threads={threads} ms_per_step={ms:.4f} best_ms={best:.4f}  # {info}")
