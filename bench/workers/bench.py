#!/usr/bin/env python3
"""Runs per minute with 1 and with 2 `esper worker` processes (one slot each) working for an
`esper serve --no-local-workers` control plane over a private redis-server, and the scaling
ratio. Small synthetic runs (two_spirals, 2000 samples, 2x128 hidden units, 60 epochs); every worker uses one BLAS
thread. Usage: bench/workers/run.sh [runs] (figures in docs/performance.md)."""
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

ESPER = os.environ.get("ESPER_BIN", ".build/release/esper")
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 12
CONFIG = {"dataset": {"kind": "two_spirals", "samples": 2000}, "model": {"hidden_sizes": [128, 128]},
          "epochs": 60, "learning_rate": 0.01, "checkpoint_interval": 10}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(port, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def cpu_seconds(pid):
    """User + system CPU time of a live process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(workers):
    root = tempfile.mkdtemp(prefix="esper-bench-workers-")
    socket_path = f"{root}/redis.sock"
    children = []
    try:
        children.append(subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", socket_path, "--save", "", "--appendonly", "no"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        while not os.path.exists(socket_path):
            time.sleep(0.05)
        url = f"unix://{socket_path}"
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ESPER_") and k != "REDIS_URL"}
        # The blueprint forge would compile the catalog at start, competing for the cores.
        env.update({"ESPER_ACCESS_LOG": "off", "ESPER_BLAS_THREADS": "1", "ESPER_FORGE_AT_START": "off"})
        children.append(subprocess.Popen([ESPER, "serve", "--port", str(port), "--data-dir", f"{root}/data", "--redis-url", url,
                                          "--no-local-workers", "--log-level", "error"], env=env,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for _ in range(300):
            try:
                http(port, "GET", "/api/v1/version")
                break
            except Exception:
                time.sleep(0.1)
        for index in range(workers):
            children.append(subprocess.Popen([ESPER, "worker", "--redis-url", url, "--server-url", f"http://127.0.0.1:{port}",
                                              "--checkpoint-dir", f"{root}/data/tolaria/runs", "--slots", "1",
                                              "--data-dir", f"{root}/worker-{index}", "--log-level", "error"], env=env,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        while len(http(port, "GET", "/api/v1/workers")["items"]) < workers:
            time.sleep(0.1)
        start = time.monotonic()
        cpu_before = [cpu_seconds(child.pid) for child in children[1:]]
        ids = [http(port, "POST", "/api/v1/runs", dict(CONFIG, seed=i + 1))["id"] for i in range(RUNS)]
        # One list request per 100 ms: the poll itself must not load the server.
        while True:
            items = http(port, "GET", f"/api/v1/runs?limit={RUNS}")["items"]
            statuses = [item["status"] for item in items if item["id"] in ids]
            if any(s in ("failed", "cancelled") for s in statuses):
                raise SystemExit(f"a run did not succeed: {statuses}")
            if len(statuses) == RUNS and all(s == "succeeded" for s in statuses):
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - start
        cpu = [cpu_seconds(child.pid) - before for child, before in zip(children[1:], cpu_before)]
        server_cpu, worker_cpu = cpu[0], sum(cpu[1:])
        return RUNS / elapsed * 60, elapsed, server_cpu, worker_cpu
    finally:
        for child in reversed(children):
            child.send_signal(signal.SIGTERM)
        for child in reversed(children):
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    load_before = os.getloadavg()
    one, one_s, one_server, one_workers = measure(1)
    two, two_s, two_server, two_workers = measure(2)
    load_after = os.getloadavg()
    print(f"runs: {RUNS} x two_spirals(2000) 2x128 hidden, 60 epochs; cores: {os.cpu_count()}")
    print(f"1 worker : {one:6.1f} runs/min ({one_s:.1f} s; CPU: workers {one_workers:.1f} s = {one_workers / one_s:.2f} cores, "
          f"server {one_server:.1f} s)")
    print(f"2 workers: {two:6.1f} runs/min ({two_s:.1f} s; CPU: workers {two_workers:.1f} s = {two_workers / two_s:.2f} cores, "
          f"server {two_server:.1f} s)")
    print(f"scaling  : {two / one:.2f}x (goal >= 1.7x)")
    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
