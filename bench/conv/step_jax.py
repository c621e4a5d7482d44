"""step_jax.py — one training step (forward, backward, Adam) of the MNIST-1D paper's CNN in JAX
(jit), batch 100, fp32, channels-last like Tolaria: conv1d 1→25 k5, 25→25 k3, 25→25 k3, stride 2,
padding 1, ReLU, flatten 125 → linear 10, softmax cross-entropy. Prints
"jax threads=... ms_per_step=X best_ms=Y cpu_ms=Z" (wall median, wall best and process-CPU median of 7
repetitions of STEPS steps)."""
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
B, L, C, OUT = 100, 40, 25, 10


def init(key):
    shapes = [(5, 1, C), (C,), (3, C, C), (C,), (3, C, C), (C,), (5 * C, OUT), (OUT,)]
    keys = jax.random.split(key, len(shapes))
    return [jax.random.uniform(k, s, jnp.float32, -0.2, 0.2) for k, s in zip(keys, shapes)]


def forward(params, x):
    h = x[:, :, None]  # [B, L, 1] channels-last
    for i in range(3):
        w, b = params[2 * i], params[2 * i + 1]
        h = jax.lax.conv_general_dilated(h, w, (2,), [(1, 1)], dimension_numbers=("NWC", "WIO", "NWC"))
        h = jax.nn.relu(h + b)
    return h.reshape(B, -1) @ params[6] + params[7]


def loss_fn(params, x, y):
    logits = forward(params, x)
    return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(B), y])


@jax.jit
def step(params, m, v, t, x, y):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    t = t + 1
    m = [0.9 * mi + 0.1 * g for mi, g in zip(m, grads)]
    v = [0.999 * vi + 0.001 * g * g for vi, g in zip(v, grads)]
    c1, c2 = 1 - 0.9**t, 1 - 0.999**t
    params = [p - 1e-3 * (mi / c1) / (jnp.sqrt(vi / c2) + 1e-8) for p, mi, vi in zip(params, m, v)]
    return params, m, v, t, loss


def main():
    key = jax.random.PRNGKey(0)
    params = init(key)
    m = [jnp.zeros_like(p) for p in params]
    v = [jnp.zeros_like(p) for p in params]
    t = jnp.float32(0)
    x = jax.random.normal(key, (B, L), jnp.float32)
    y = jnp.arange(B) % OUT
    state = step(params, m, v, t, x, y)
    jax.block_until_ready(state)
    times, cpu = [], []
    for _ in range(7):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(STEPS):
            state = step(*state[:4], x, y)
        jax.block_until_ready(state)
        times.append((time.perf_counter() - start) * 1000 / STEPS)
        cpu.append((time.process_time() - start_cpu) * 1000 / STEPS)
    n = sum(p.size for p in params)
    print(f"jax {jax.__version__} threads={os.environ.get('XLA_FLAGS', 'default')} ms_per_step={statistics.median(times):.4f} best_ms={min(times):.4f} cpu_ms={statistics.median(cpu):.4f} params={n}")


if __name__ == "__main__":
    main()
