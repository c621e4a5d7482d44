"""step_torch.py — one training step (forward, backward, Adam) of the MNIST-1D paper's CNN in PyTorch
(eager, CPU), batch 100, fp32: conv1d 1→25 k5, 25→25 k3, 25→25 k3, stride 2, padding 1, ReLU, flatten
125 → linear 10, softmax cross-entropy, Adam 1e-3. Same network and step as step_jax.py (PyTorch's
native channels-first layout). Threads: torch.set_num_threads(THREADS), default 1. Prints
"torch VERSION threads=N ms_per_step=X best_ms=Y cpu_ms=Z" (wall median, wall best and process-CPU
median of 7 repetitions of STEPS steps)."""
import statistics
import sys
import time

import torch

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
THREADS = int(sys.argv[2]) if len(sys.argv) > 2 else 1
B, L, C, OUT = 100, 40, 25, 10


def main():
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(1, C, 5, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv1d(C, C, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv1d(C, C, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(5 * C, OUT))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(B, 1, L)
    y = torch.arange(B) % OUT
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(20):
        step()
    times, cpu = [], []
    for _ in range(7):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(STEPS):
            step()
        times.append((time.perf_counter() - start) * 1000 / STEPS)
        cpu.append((time.process_time() - start_cpu) * 1000 / STEPS)
    n = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__} threads={THREADS} ms_per_step={statistics.median(times):.4f} "
          f"best_ms={min(times):.4f} cpu_ms={statistics.median(cpu):.4f} params={n}")


if __name__ == "__main__":
    main()
