#!/usr/bin/env python3
"""Control-plane overhead of a study (docs/performance.md, "Studies").

Starts `esper serve` (the debug build unless ESPER_BINARY names another) with one worker slot,
POSTs a 3-arm x 5-seed study of digits runs, waits until it completes, and reports:
- the POST's latency (validation of every config + recording + submitting 15 runs),
- the wall time from POST to completion against the sum of the runs' own wall times (start to
  finish, as the run registry records them): with one slot the difference is what the control
  plane adds between runs (job hand-over, records, the study monitor),
- the latency of GET /api/v1/studies/{id} (the summary) and /curves,
- the load average before and after (the machine may be shared: say so with the figures).
Usage: python3 bench/studies.py [epochs] [--dataset digits|mnist1d] [--widths 16,32,64] [--seeds 5]
  (default: 30 epochs of digits, hidden widths 16, 32 and 64, 5 seeds; `--dataset mnist1d
  --widths 8` runs MNIST-1D with an 8-unit host, where a run lasts long enough to matter).
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("epochs", type=int, nargs="?", default=30)
    parser.add_argument("--dataset", choices=["digits", "mnist1d"], default="digits")
    parser.add_argument("--widths", default="16,32,64", help="one arm per hidden width")
    parser.add_argument("--seeds", type=int, default=5)
    arguments = parser.parse_args()
    epochs = arguments.epochs
    widths = [int(width) for width in arguments.widths.split(",")]
    load_before = os.getloadavg()
    binary = os.path.abspath(os.environ.get("ESPER_BINARY", os.path.join(ROOT, ".build", "debug", "esper")))
    work = tempfile.mkdtemp(prefix="esper-bench-studies-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, ESPER_ACCESS_LOG="off", ESPER_MAX_CONCURRENT_RUNS="1", ESPER_LOG_LEVEL="warning",
               ESPER_FORGE_AT_START="off")
    server = subprocess.Popen([binary, "serve", "--port", str(port), "--data-dir", work + "/var"], env=env, cwd=work,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if requests.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        study = {
            "name": "bench",
            "base": {"dataset": {"kind": arguments.dataset}, "epochs": epochs, "learning_rate": 0.003,
                     "model": {"hidden_sizes": [32]}},
            "arms": [{"name": f"h{width}", "overrides": {"model": {"hidden_sizes": [width]}}} for width in widths],
            "seeds": list(range(1, arguments.seeds + 1)),
        }
        started = time.monotonic()
        created = requests.post(url + "/api/v1/studies", json=study, timeout=60)
        post_ms = (time.monotonic() - started) * 1000
        assert created.status_code == 202, created.text
        study_id = created.json()["id"]
        while True:
            summary = requests.get(f"{url}/api/v1/studies/{study_id}", timeout=60).json()
            if summary["status"] == "completed":
                break
            time.sleep(0.2)
        wall = time.monotonic() - started
        runs = [requests.get(f"{url}/api/v1/runs/{run['run_id']}", timeout=10).json()
                for group in summary["groups"] for run in group["runs"]]
        run_seconds = sum(run["timings"]["elapsed_ms"] for run in runs) / 1000
        timings = []
        for path in (f"/api/v1/studies/{study_id}", f"/api/v1/studies/{study_id}/curves"):
            samples = []
            for _ in range(10):
                t = time.monotonic()
                requests.get(url + path, timeout=60).raise_for_status()
                samples.append((time.monotonic() - t) * 1000)
            samples.sort()
            timings.append((path.rsplit("/", 1)[-1] if path.endswith("curves") else "summary", samples[len(samples) // 2]))
        n = len(runs)
        gap = (wall - run_seconds) / n
        print(f"runs: {n} x {epochs} epochs of {arguments.dataset}, hidden {widths}, one worker slot "
              f"({os.path.basename(binary)} from {os.path.dirname(binary)})")
        print("load average before: {:.1f} {:.1f} {:.1f}, after: {:.1f} {:.1f} {:.1f}".format(*load_before, *os.getloadavg()))
        print(f"POST /api/v1/studies: {post_ms:.0f} ms ({post_ms / n:.1f} ms a run)")
        print(f"POST to completed: {wall:.1f} s; sum of the runs' own wall times: {run_seconds:.1f} s "
              f"(mean {run_seconds / n:.2f} s a run)")
        print(f"between runs (hand-over, records, polling): {gap * 1000:.0f} ms a run = "
              f"{100 * gap / (run_seconds / n):.2f} % of a run (the poll every 0.2 s adds up to 0.2 s once)")
        for name, median in timings:
            print(f"GET {name}: median {median:.1f} ms")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
