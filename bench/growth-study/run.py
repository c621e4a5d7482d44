#!/usr/bin/env python3
"""Growth study on MNIST-1D (issue 17, docs/performance.md "Growth study: structure on MNIST-1D").

Starts `esper serve` (ESPER_BINARY, default the release build, else the debug one) with one
worker slot, and runs over REST, per seed:
  (a) grown     - 8-unit MLP host (418 parameters) under the heuristic Tamiyo policy, conv-branch
                  blueprints allowed, parameter budget 6,000;
  (b) no_growth - the same host and recipe, no policy;
  (c) static_final - (a)'s final architecture (its widths and fossilised branches, declared in
                  model.branches) trained from scratch with the same recipe;
  (d) mlp_100_100 - the paper's best MLP 40-100-100-10 (15,210 parameters);
  (e) cnn       - the paper's CNN as an Esper conv host (5,210 parameters);
  (a') grown_any - (a) with every growth family allowed, width first in the preference order
                  (widen-8, widen-16, then the conv branches): Tamiyo must find from its trials
                  that structure pays.
GROWTH_ARMS=grown_any,no_growth (comma-separated) runs only those arms (static_final needs grown).
Every arm: test accuracy on the paper's 1,000 test rows (the last epoch), final parameters,
training FLOPs (Tolaria's count), wall time (the run's started_at to finished_at). Prints one
line per run and mean ± std per arm.
Usage: python3 bench/growth-study/run.py [seeds] [epochs]   (default 5 seeds, 150 epochs)
"""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# The recipe that brought the paper's CNN to 93.8 % (docs/performance.md, "MNIST-1D"), for every arm.
RECIPE = {"dataset": {"kind": "mnist1d"}, "batch_size": 100, "optimizer": "adamw", "learning_rate": 0.01,
          "weight_decay": 0.05, "checkpoint_interval": 1000}
PAPER_CNN = [
    {"kind": "conv1d", "channels": 25, "kernel_size": 5, "stride": 2, "padding": 1, "activation": "relu"},
    {"kind": "conv1d", "channels": 25, "kernel_size": 3, "stride": 2, "padding": 1},
    {"kind": "conv1d", "channels": 25, "kernel_size": 3, "stride": 2, "padding": 1},
    {"kind": "flatten"},
]
BRANCH_CHANNELS = {"conv-branch-8": 8, "conv-branch-16": 16, "conv-branch-25": 25,
                   "BP054": 8, "BP055": 16, "BP056": 25}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def grown_seeds(blueprints=("conv-branch-25", "conv-branch-16", "conv-branch-8")):
    return {"blueprints": list(blueprints), "warmup_epochs": 3,
            "plateau_epochs": 2, "plateau_delta": 10, "min_training_epochs": 3, "graft_steps": 80,
            "stabilization_epochs": 2, "evaluation_epochs": 2, "improvement_threshold": 0.0,
            "max_germinations": 3, "embargo_epochs": 2, "parameter_budget": 6000}


def conv_out(length, kernel, stride=2, pad=1):
    return (length + 2 * pad - kernel) // stride + 1


def branch_parameters(blueprint, inputs, outputs):
    k = BRANCH_CHANNELS[blueprint]
    length, cin, count = inputs, 1, 0
    for kernel in (5, 3, 3):
        count += k * kernel * cin + k
        length, cin = conv_out(length, kernel), k
    return count + outputs * length * k


def parameters(config, metrics):
    """Final parameters from the config and the last epoch (widths from the slots, branches)."""
    model = config.get("model", {})
    if "layers" in model:
        length, cin, count = 40, 1, 0
        for layer in model["layers"]:
            if layer["kind"] == "conv1d":
                k = layer["channels"]
                count += k * layer["kernel_size"] * cin + k
                length, cin = conv_out(length, layer["kernel_size"], layer.get("stride", 1), layer.get("padding", 0)), k
        return count + (length * cin) * 10 + 10
    hidden = list(model.get("hidden_sizes", [32]))
    for slot in metrics.get("slots", []):
        layer = int(slot["name"].split("-")[1])
        if layer < len(hidden):
            hidden[layer] = slot["width"]
    widths = [40] + hidden + [10]
    count = sum(widths[i] * widths[i + 1] + widths[i + 1] for i in range(len(widths) - 1))
    for branch in metrics.get("branches") or []:
        layer = int(branch["slot"].split("-")[1])
        count += branch_parameters(branch["blueprint"], widths[layer], widths[layer + 2])
    return count


def timestamp(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main():
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 150
    release = os.path.join(ROOT, ".build", "release", "esper")
    binary = os.environ.get("ESPER_BINARY", release if os.path.exists(release) else os.path.join(ROOT, ".build", "debug", "esper"))
    work = tempfile.mkdtemp(prefix="esper-growth-study-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, ESPER_PORT=str(port), ESPER_DATA_DIR=work, ESPER_ACCESS_LOG="off",
               ESPER_MAX_CONCURRENT_RUNS="1", ESPER_LOG_LEVEL="warning", ESPER_FORGE_AT_START="off")
    log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(120):
            try:
                if requests.get(f"{url}/api/v1/health", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        print(f"binary {binary}, load {os.getloadavg()[0]:.2f}, {seeds} seeds, {epochs} epochs")

        def submit(body):
            r = requests.post(f"{url}/api/v1/runs", json=body, timeout=30)
            if r.status_code >= 300:
                raise SystemExit(f"refused: {r.status_code} {r.text}")
            return r.json()["id"]

        def wait(run_id):
            while True:
                run = requests.get(f"{url}/api/v1/runs/{run_id}", timeout=30).json()
                if run["status"] in ("succeeded", "failed", "cancelled"):
                    return run
                time.sleep(1)

        def config(arm, seed, grown=None):
            body = dict(RECIPE, epochs=epochs, seed=seed, name=f"{arm}/seed-{seed}")
            if arm == "grown":
                body.update(model={"hidden_sizes": [8]}, policy="heuristic", seeds=grown_seeds())
            elif arm == "grown_any":
                every = ("widen-8", "widen-16", "conv-branch-25", "conv-branch-16", "conv-branch-8")
                body.update(model={"hidden_sizes": [8]}, policy="heuristic", seeds=grown_seeds(every))
            elif arm == "no_growth":
                body.update(model={"hidden_sizes": [8]})
            elif arm == "static_final":
                metrics = grown["latest_metrics"]
                hidden = [8]
                for slot in metrics.get("slots", []):
                    hidden[int(slot["name"].split("-")[1])] = slot["width"]
                model = {"hidden_sizes": hidden}
                if metrics.get("branches"):
                    model["branches"] = metrics["branches"]
                body.update(model=model)
            elif arm == "mlp_100_100":
                body.update(model={"hidden_sizes": [100, 100]})
            elif arm == "cnn":
                body.update(model={"layers": PAPER_CNN})
            return body

        arms = ["grown", "no_growth", "static_final", "mlp_100_100", "cnn", "grown_any"]
        if os.environ.get("GROWTH_ARMS"):
            arms = [a for a in os.environ["GROWTH_ARMS"].split(",") if a in arms]
        results = {arm: [] for arm in arms}
        for seed in range(1, seeds + 1):
            grown = None
            for arm in arms:
                body = config(arm, seed, grown)
                run = wait(submit(body))
                if arm == "grown":
                    grown = run
                metrics = run.get("latest_metrics") or {}
                row = {"accuracy": metrics.get("validation_accuracy", 0.0), "split": metrics.get("held_out_split"),
                       "parameters": parameters(body, metrics), "flops": metrics.get("total_training_flops", 0.0),
                       "wall": timestamp(run["finished_at"]) - timestamp(run["started_at"]),
                       "branches": [b["blueprint"] for b in metrics.get("branches") or []], "status": run["status"],
                       "widths": [slot["width"] for slot in metrics.get("slots", [])]}
                results[arm].append(row)
                print(f"{arm:13s} seed {seed}: {row['status']} test acc {row['accuracy']:.4f} ({row['split']}) "
                      f"params {row['parameters']} flops {row['flops']:.3e} wall {row['wall']:.1f} s "
                      f"branches {row['branches']} widths {row['widths']}", flush=True)

        def ms(values):
            return (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)

        print(f"\n| arm | test accuracy (mean ± std) | final parameters | training FLOPs | wall time (s) |")
        print("| --- | --- | --- | --- | --- |")
        for arm in arms:
            rows = results[arm]
            acc, sd = ms([r["accuracy"] * 100 for r in rows])
            params = sorted({r["parameters"] for r in rows})
            flops, _ = ms([r["flops"] for r in rows])
            wall, _ = ms([r["wall"] for r in rows])
            shown = str(params[0]) if len(params) == 1 else f"{params[0]}–{params[-1]}"
            print(f"| {arm} | {acc:.1f} ± {sd:.1f} % | {shown} | {flops:.2e} | {wall:.1f} |")
        print(f"load after: {os.getloadavg()[0]:.2f}")
        with open(os.path.join(tempfile.gettempdir(), "esper-growth-study-results.json"), "w") as out:
            json.dump(results, out, indent=1)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
