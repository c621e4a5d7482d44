"""The end-to-end demo (`make demo`, `esper demo`): a fresh server with its own Redis, the
catalog forged, a digits run that grows through seeds under Tamiyo, one progress line per
epoch, an optional Simic cycle, an MNIST-1D run whose 8-unit host grows a conv branch (beside
the same host trained fixed), and a summary with the grown architectures. Everything goes
through the HTTP API.

    python3 -m esper_client.demo [--small] [--binary PATH] [--data-dir DIR] [--keep]

`--small` (or ESPER_DEMO_SMALL=1) is the CI setting: 60 epochs and shorter gates.
"""
from __future__ import annotations

import argparse
import datetime
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

import requests

from .client import EsperAPIError, EsperClient

# The host is 64→4→10; Tamiyo grows it with widening seeds (new hidden units, Net2Net-style)
# under a parameter budget below a 32-unit net — the growth run of docs/performance.md
# ("Growth on digits", recipe R). The server compiles the catalog's slot kernels for 4-wide
# slots, the host's width.
SEED_WIDTH = 4
STAGES_BEFORE_BLEND = {"SEED_STAGE_GERMINATING", "SEED_STAGE_GERMINATED", "SEED_STAGE_TRAINING"}
STAGES_BLENDED = {"SEED_STAGE_STABILIZING", "SEED_STAGE_EVALUATING", "SEED_STAGE_FINE_TUNING", "SEED_STAGE_FOSSILIZED"}
ENDED = {"SEED_STAGE_CULLED", "SEED_STAGE_CANCELLED"}


def run_config(small: bool) -> Dict[str, Any]:
    seeds = {"slots": ["slot-0"], "blueprints": ["widen-8", "widen-4"], "max_germinations": 12, "graft_steps": 45,
             "parameter_budget": 2409}
    if small:
        seeds.update(plateau_epochs=2, embargo_epochs=1, warmup_epochs=5)
    else:
        seeds.update(plateau_epochs=3, embargo_epochs=2, warmup_epochs=10)
    return {
        "name": "esper-demo",
        "experiment_name": "demo",
        "dataset": {"kind": "digits"},
        "model": {"hidden_sizes": [SEED_WIDTH]},
        "epochs": 60 if small else 200,
        "batch_size": 32,
        "learning_rate": 0.003,
        "label_smoothing": 0.1,
        "input_noise": 0.1,
        "learning_rate_decay_epochs": 15 if small else 50,
        "checkpoint_interval": 50,
        "seed": 1,
        "policy": "heuristic",
        "seeds": seeds,
    }


# MNIST-1D (the paper's split: test accuracy on its last 1,000 rows): a 40→8→10 MLP host
# (418 parameters) that Tamiyo may grow with a conv branch on its input or with width — it
# chooses from its trial grafts (issue 17) — and the same host trained fixed, same recipe.
MNIST1D_HOST = 8
MNIST1D_HOST_PARAMETERS = 40 * MNIST1D_HOST + MNIST1D_HOST + MNIST1D_HOST * 10 + 10


def mnist1d_config(grow: bool) -> Dict[str, Any]:
    config: Dict[str, Any] = {
        "name": "esper-demo-mnist1d-" + ("grown" if grow else "fixed"),
        "experiment_name": "demo",
        "dataset": {"kind": "mnist1d"},
        "model": {"hidden_sizes": [MNIST1D_HOST]},
        "epochs": 24,
        "batch_size": 100,
        "learning_rate": 0.003,
        "seed": 3,
        "policy": "heuristic" if grow else "none",
    }
    if grow:
        # The CI-sized growth recipe of StructuralGrowthTests: judge a seed within a few epochs.
        config["seeds"] = {"blueprints": ["conv-branch-16", "widen-8"], "max_germinations": 2, "warmup_epochs": 2,
                           "plateau_epochs": 1, "plateau_delta": 10, "min_training_epochs": 2, "graft_steps": 40,
                           "stabilization_epochs": 1, "evaluation_epochs": 1, "improvement_threshold": 0,
                           "parameter_budget": 6000}
    return config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_binary() -> str:
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    for build in ("release", "debug"):
        path = os.path.join(root, ".build", build, "esper")
        if os.path.exists(path):
            return path
    return "esper"


class Demo:
    def __init__(self, binary: str, data_dir: str, small: bool, out=None):
        self.binary = binary
        self.data_dir = os.path.abspath(data_dir)
        self.small = small
        self.out = out
        self.server: Optional[subprocess.Popen] = None
        self.client: Optional[EsperClient] = None
        self.started = time.monotonic()

    def say(self, line: str) -> None:
        print(line, file=self.out or sys.stdout, flush=True)

    # -- steps ------------------------------------------------------------------------------

    def start_server(self) -> None:
        os.makedirs(self.data_dir, exist_ok=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, ESPER_SEED_WIDTH=str(SEED_WIDTH), ESPER_FORGE_AT_START="off", ESPER_ACCESS_LOG="off")
        env.pop("REDIS_URL", None)  # the demo always runs its own managed Redis
        token = env.get("ESPER_API_TOKEN")
        self.log_path = os.path.join(self.data_dir, "server.log")
        log = open(self.log_path, "ab")
        self.server = subprocess.Popen(
            [self.binary, "serve", "--port", str(port), "--data-dir", self.data_dir],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        self.client = EsperClient(url, token=token, timeout=30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise SystemExit(f"demo: the server exited (status {self.server.returncode}); see {self.log_path}")
            try:
                if self.client.health().get("status") == "ok":
                    break
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.1)
        else:
            raise SystemExit(f"demo: the server did not become healthy in 60 s; see {self.log_path}")
        version = self.client.version()
        self.say(f"[server] esper {version.get('version', '?')} on {url}, managed Redis, data in {self.data_dir}")

    def forge(self) -> None:
        assert self.client
        self.client.post("/api/v1/tezzeret/forge")
        began = time.monotonic()
        while True:
            status = self.client.get("/api/v1/tezzeret/forge")
            if status["state"] == "idle" and status.get("last_run"):
                break
            time.sleep(0.25)
        run = status["last_run"]
        failed = [f.get("blueprint_id", "?") for f in status.get("failed", [])]
        self.say(
            f"[forge] {len(run['compiled'])} blueprints compiled for {SEED_WIDTH}-wide slots in "
            f"{time.monotonic() - began:.1f} s" + (f"; not compilable at this width: {', '.join(failed)}" if failed else "")
        )

    def train(self) -> Dict[str, Any]:
        assert self.client
        config = run_config(self.small)
        run = self.client.post("/api/v1/runs", config, create=True)
        run_id = run["id"]
        self.say(f"[run] {run_id}: digits, host 64→{SEED_WIDTH}→10, {config['epochs']} epochs, Tamiyo's heuristic policy "
                 f"growing it with {', '.join(config['seeds']['blueprints'])} (budget {config['seeds']['parameter_budget']} parameters)")
        return self.follow(run_id)

    def follow(self, run_id: str, prefix: str = "") -> Dict[str, Any]:
        """One progress line per epoch of `run_id` until it ends; its final record."""
        assert self.client
        printed = 0
        while True:
            record = self.client.get(f"/api/v1/runs/{run_id}")
            epochs = self.client.get(f"/api/v1/runs/{run_id}/metrics").get("epochs", [])
            seeds = self.client.get(f"/api/v1/runs/{run_id}/seeds").get("items", [])
            for epoch in epochs[printed:]:
                self.say(prefix + progress_line(epoch, seeds, live=record["status"] == "running" and epoch is epochs[-1]))
            printed = len(epochs)
            if record["status"] not in ("queued", "running"):
                break
            time.sleep(0.2)
        if record["status"] != "succeeded":
            raise SystemExit(f"demo: the run ended {record['status']}: {record.get('error', '')}")
        return record

    def grow_structure(self) -> Dict[str, Any]:
        """MNIST-1D: the 8-unit host grown under Tamiyo (conv branch or width, its choice) and
        the same host fixed; the grown architecture and both test accuracies."""
        assert self.client
        fixed = self.client.post("/api/v1/runs", mnist1d_config(grow=False), create=True)
        grown = self.client.post("/api/v1/runs", mnist1d_config(grow=True), create=True)
        config = mnist1d_config(grow=True)
        self.say(f"[mnist1d] {grown['id']}: MNIST-1D (test split: its last 1,000 rows), host 40→{MNIST1D_HOST}→10 "
                 f"({MNIST1D_HOST_PARAMETERS} parameters), {config['epochs']} epochs, Tamiyo choosing among "
                 f"{', '.join(config['seeds']['blueprints'])}; {fixed['id']}: the same host fixed")
        grown_record = self.follow(grown["id"], prefix="[mnist1d] ")
        fixed_record = self.follow(fixed["id"], prefix="[mnist1d fixed] ")
        epochs = self.client.get(f"/api/v1/runs/{grown['id']}/metrics").get("epochs", [])
        seeds = self.client.get(f"/api/v1/runs/{grown['id']}/seeds").get("items", [])
        fossils = [s for s in seeds if s["stage"] == "SEED_STAGE_FOSSILIZED"]
        last = epochs[-1] if epochs else {}
        return {
            "run": grown["id"],
            "fixed_run": fixed["id"],
            "test_accuracy": (grown_record.get("latest_metrics") or {}).get("validation_accuracy"),
            "fixed_test_accuracy": (fixed_record.get("latest_metrics") or {}).get("validation_accuracy"),
            "parameters": MNIST1D_HOST_PARAMETERS + sum(s.get("parameters", 0) for s in fossils),
            "branches": last.get("branches") or [],
            "hidden": "+".join(str(slot.get("width", "?")) for slot in last.get("slots", [])) or str(MNIST1D_HOST),
            "grafts": ["%s %s +%d" % (s["seed_id"], s.get("blueprint_id", "?"), s.get("parameters", 0)) for s in fossils],
            "culled": ["%s %s" % (s["seed_id"], s.get("blueprint_id", "?")) for s in seeds if s["stage"] in ENDED],
        }

    def simic_cycle(self) -> str:
        """Trigger a Simic training cycle on the field reports (docs/simic.md) — only when the
        server serves `POST /api/v1/simic/jobs`. Probed with a GET: the router answers 405 (with `Allow`) for a
        path it serves with other methods and 404 for a path it does not know."""
        assert self.client
        try:
            self.client.get("/api/v1/simic/jobs")
        except EsperAPIError as error:
            if error.status == 404:
                self.say("[simic] skipped: this server has no Simic routes (/api/v1/simic/jobs is 404)")
                return "skipped (no Simic on this server)"
            if error.status != 405:
                raise
        # Behaviour cloning then PPO: the settings docs/performance.md's comparison validated.
        job = self.client.post("/api/v1/simic/jobs", {"cloning_epochs": 20, "updates": 20}, create=True)
        job_id = job["id"]
        self.say(f"[simic] training job {job_id} on the field reports (behaviour cloning + PPO)")
        deadline = time.monotonic() + 300
        while True:
            document = self.client.get(f"/api/v1/simic/jobs/{job_id}")
            job = document.get("job", document)
            state = job.get("state")
            if state in ("succeeded", "rejected", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        result = job.get("result") or {}
        reports = result.get("training_reports", 0) + result.get("holdout_reports", 0)
        if state == "succeeded":
            version = result.get("policy_version")
            outcome = f"succeeded, published {version or '(not published)'}"
            if version:
                # Tamiyo installs it from the policy stream; learned runs swap at a boundary.
                deadline = time.monotonic() + 15
                while self.client.get("/api/v1/tamiyo/policy").get("version") != version and time.monotonic() < deadline:
                    time.sleep(0.25)
                installed = self.client.get("/api/v1/tamiyo/policy").get("version")
                outcome += f", Tamiyo's policy now {installed}"
        elif state == "rejected":
            reasons = "; ".join((result.get("validation") or {}).get("reasons", []))
            outcome = f"rejected by validation ({reasons}); Tamiyo keeps its policy"
        elif state == "failed":
            outcome = f"failed: {job.get('error', '?')}"
        else:
            outcome = f"still {state} after 300 s"
        self.say(f"[simic] job {job_id}: {outcome} ({reports} field reports)")
        return f"job {job_id} {outcome}"

    def summary(self, record: Dict[str, Any], simic: str, structure: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        assert self.client
        run_id = record["id"]
        latest = record.get("latest_metrics") or {}
        seeds = self.client.get(f"/api/v1/runs/{run_id}/seeds").get("items", [])
        fossils = [s for s in seeds if s["stage"] == "SEED_STAGE_FOSSILIZED"]
        culled = [s for s in seeds if s["stage"] in ENDED]
        # What the fossilised seeds became: hidden units of the host (widening) or slot modules.
        added = sum(s.get("parameters", 0) for s in fossils)
        widths = [slot.get("width") for slot in latest.get("slots", [])]
        commands = sum(len(s.get("history", [])) for s in seeds)
        reports = self.client.get("/api/v1/tamiyo/field-reports", run=run_id, limit=500).get("items", [])
        alerts = self.client.get("/api/v1/nissa/alerts", limit=500).get("items", [])
        firing = [a for a in alerts if a.get("state") == "firing"]
        blueprints = self.client.get("/api/v1/urza/blueprints", limit=500).get("items", [])
        result = {
            "run": run_id,
            "validation_accuracy": latest.get("validation_accuracy"),
            "parameters_added": added,
            "seeds": len(seeds),
            "fossilized": len(fossils),
            "culled": len(culled),
            "commands": commands,
            "field_reports": len(reports),
            "alerts": len(alerts),
            "alerts_firing": len(firing),
            "simic": simic,
        }
        self.say("")
        self.say("== Esper demo summary ==")
        self.say(f"validation accuracy: {100 * (latest.get('validation_accuracy') or 0):.1f} % after {latest.get('epochs', '?')} epochs")
        fossil_list = ", ".join("%s %s +%d" % (s["seed_id"], s.get("blueprint_id", "?"), s.get("parameters", 0)) for s in fossils)
        self.say(f"parameters added: {added} (seeds {len(seeds)}: fossilized {len(fossils)} [{fossil_list}], culled {len(culled)})")
        self.say(f"hidden layer: {SEED_WIDTH} → {'+'.join(str(w) for w in widths)} units")
        self.say(f"commands issued: {commands} seed lifecycle commands (germinate, advance, cull, fossilize)")
        self.say(f"alerts: {len(alerts)} raised, {len(firing)} firing" + "".join(f"\n  {a.get('rule')} ({a.get('severity')}): {a.get('state')}" for a in alerts[:5]))
        self.say(f"simic: {simic}")
        self.say(f"field reports: {len(reports)} for this run; log {os.path.join(self.data_dir, 'tamiyo', 'field_reports.log')} "
                 f"(GET /api/v1/tamiyo/field-reports?run={run_id})")
        # Per growth family: how many grafts were kept, how many culled and why (docs/tamiyo.md).
        families = {}
        for report in reports:
            family = families.setdefault(report.get("family") or "?", {"kept": 0, "culled": []})
            if report.get("cull_reason"):
                family["culled"].append(report["cull_reason"])
            else:
                family["kept"] += 1
        for name, family in sorted(families.items()):
            reasons = f" ({', '.join(sorted(set(family['culled'])))})" if family["culled"] else ""
            self.say(f"  {name}: kept {family['kept']}, culled {len(family['culled'])}{reasons}")
        self.say(f"artifacts: {len(blueprints)} blueprints in Urza under {os.path.join(self.data_dir, 'urza')}; "
                 f"run checkpoints under {os.path.join(self.data_dir, 'tolaria')}; server log {self.log_path}")
        if structure:
            result["mnist1d"] = structure
            branches = ", ".join(f"{b.get('blueprint')} on {b.get('slot')}" for b in structure["branches"]) or "none"
            accuracy, fixed = structure["test_accuracy"] or 0, structure["fixed_test_accuracy"] or 0
            self.say(f"mnist1d grown architecture: 40→{structure['hidden']}→10 with conv branches [{branches}], "
                     f"{structure['parameters']} parameters (host {MNIST1D_HOST_PARAMETERS}); "
                     f"kept [{', '.join(structure['grafts'])}], culled [{', '.join(structure['culled'])}]")
            self.say(f"mnist1d test accuracy: grown {100 * accuracy:.1f} % vs fixed {MNIST1D_HOST}-unit host {100 * fixed:.1f} % "
                     f"({100 * (accuracy - fixed):+.1f} points)")
        self.say(f"took {time.monotonic() - self.started:.1f} s")
        return result

    def stop(self) -> None:
        if self.server and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()


def stage_at(seed: Dict[str, Any], epoch: int) -> Optional[str]:
    """The seed's stage at the end of `epoch`, from its lifecycle history."""
    stage = None
    for step in seed.get("history", []):
        if step.get("epoch", 0) <= epoch:
            stage = step.get("to")
    return stage


def progress_line(epoch: Dict[str, Any], seeds: List[Dict[str, Any]], live: bool) -> str:
    n = epoch["epoch"]
    parts = []
    added = 0
    for seed in seeds:
        stage = stage_at(seed, n)
        if stage == "SEED_STAGE_FOSSILIZED":
            added += seed.get("parameters", 0)
        if stage is None or (stage in ENDED and seed["history"][-1].get("epoch", 0) < n):
            continue  # not germinated yet, or culled before this epoch
        if stage in STAGES_BEFORE_BLEND or stage in ENDED:
            alpha = "0"
        elif stage in STAGES_BLENDED:
            alpha = "1"
        elif live and 0 < seed.get("alpha", 0) < 1:
            alpha = f"{seed['alpha']:.2f}"
        else:
            alpha = "ramp"
        parts.append(f"{seed['seed_id']} {seed.get('blueprint_id', '?')} {stage.replace('SEED_STAGE_', '')} α={alpha}")
    hidden = "+".join(str(slot.get("width", "?")) for slot in epoch.get("slots", []))
    return (
        f"epoch {n + 1:3d}/{epoch.get('epochs', '?')}  loss {epoch.get('train_loss', float('nan')):.4f}  "
        f"val_loss {epoch.get('validation_loss', float('nan')):.4f}  acc {100 * epoch.get('validation_accuracy', 0):5.1f} %  "
        f"hidden {hidden}  params+{added}  seeds: {'; '.join(parts) if parts else '-'}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="esper demo", description="Run the end-to-end Esper demo on a fresh server.")
    parser.add_argument("--small", action="store_true", default=os.environ.get("ESPER_DEMO_SMALL") == "1",
                        help="CI setting: 40 epochs, shorter gates [ESPER_DEMO_SMALL=1]")
    parser.add_argument("--binary", default=os.environ.get("ESPER_BINARY") or default_binary(), help="the esper binary to serve with")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    parser.add_argument("--data-dir", default=os.path.join("var", "demo", stamp), help="fresh state directory (default var/demo/<time>)")
    parser.add_argument("--keep", action="store_true", help="leave the server running at the end (Ctrl-C stops it)")
    args = parser.parse_args(argv)
    if os.path.exists(args.data_dir) and os.listdir(args.data_dir):
        print(f"demo: {args.data_dir} is not empty; the demo starts from a fresh directory", file=sys.stderr)
        return 2
    demo = Demo(args.binary, args.data_dir, args.small)
    try:
        demo.start_server()
        demo.forge()
        record = demo.train()
        simic = demo.simic_cycle()  # on the digits run's field reports, before the MNIST-1D runs add theirs
        structure = demo.grow_structure()
        demo.summary(record, simic, structure)
        if args.keep:
            demo.say(f"server still running at {demo.client.base_url if demo.client else '?'}; Ctrl-C stops it")
            try:
                demo.server.wait()  # type: ignore[union-attr]
            except KeyboardInterrupt:
                pass
    except EsperAPIError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    finally:
        demo.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
