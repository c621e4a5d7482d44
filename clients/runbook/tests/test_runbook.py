"""Every runbook script against a live server: each passes on a healthy server and fails
(exit 1, a FAIL line naming the problem) when its condition is broken for real."""
import json
import os
import subprocess
import sys

import pytest
import requests

HERE = os.path.dirname(__file__)
RUNBOOK = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.abspath(os.path.join(RUNBOOK, "..", "python", "tests")))
from esper_process import EsperProcess, eventually, free_port  # noqa: E402

TOKEN = "runbook-token-0123456789"
SCRIPTS = sorted(name for name in os.listdir(RUNBOOK) if name.startswith("check_") and name.endswith(".sh"))
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def check(name, url, **env):
    result = subprocess.run(
        [os.path.join(RUNBOOK, name)], env={**os.environ, "ESPER_URL": url, "ESPER_API_TOKEN": TOKEN, **env},
        capture_output=True, text=True, timeout=60,
    )
    return result.returncode, result.stdout + result.stderr


def fails(name, url, **env):
    """Polls until the check fails (the server samples some things every few seconds)."""
    return eventually(lambda: (lambda rc, out: out if rc == 1 else None)(*check(name, url, **env)), 45, 0.5)


@pytest.fixture(scope="module")
def healthy():
    # Reads protected too: the scripts must send the token.
    process = EsperProcess({"ESPER_API_TOKEN": TOKEN, "ESPER_API_PROTECT_READS": "on"})
    eventually(lambda: requests.get(process.url + "/api/v1/tezzeret/forge", headers=AUTH, timeout=2).json()["state"] == "idle"
               and requests.get(process.url + "/api/v1/tezzeret/forge", headers=AUTH, timeout=2).json()["last_run"], 120)
    # Warmed up: Oona's first queue-depth sample (every 10 s) has been published and ingested.
    eventually(lambda: "esper_oona_queue_depth{" in requests.get(process.url + "/metrics", timeout=2).text
               and "esper_telemetry_packets_total{" in requests.get(process.url + "/metrics", timeout=2).text, 30)
    yield process
    process.remove()


def test_every_check_passes_on_a_healthy_server(healthy):
    assert len(SCRIPTS) >= 8
    for name in SCRIPTS:
        rc, out = check(name, healthy.url)
        assert rc == 0, out
        assert ": OK: " in out


def test_every_check_fails_when_the_server_is_unreachable():
    url = f"http://127.0.0.1:{free_port()}"
    for name in SCRIPTS:
        rc, out = check(name, url)
        assert rc == 1 and "no answer" in out, (name, out)


def test_conservative_mode_check_fails_while_it_is_on(healthy):
    on = requests.put(healthy.url + "/api/v1/tamiyo/mode", json={"conservative": True, "reason": "runbook test"}, headers=AUTH, timeout=5)
    assert on.status_code == 200
    try:
        rc, out = check("check_conservative_mode.sh", healthy.url)
        assert rc == 1 and "runbook test" in out
    finally:
        requests.put(healthy.url + "/api/v1/tamiyo/mode", json={"conservative": False}, headers=AUTH, timeout=5)
    assert check("check_conservative_mode.sh", healthy.url)[0] == 0


def test_a_wrong_token_fails_the_checks(healthy):
    rc, out = check("check_forge.sh", healthy.url, ESPER_API_TOKEN="wrong-token-0123456789")
    assert rc == 1 and "403" in out


@pytest.fixture
def broken(tmp_path):
    """A server whose conditions the test breaks one by one: an external Redis it can stop, no
    forge at start, a hair-trigger alert rule routed to a webhook nobody answers."""
    redis_port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    assert eventually(lambda: subprocess.run(["redis-cli", "-p", str(redis_port), "ping"], capture_output=True, text=True).stdout.strip() == "PONG", 10)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"version": 1, "rules": [
        {"name": "oona_queue_depth", "metric": "oona.queue.depth", "comparator": ">=", "threshold": 0,
         "for_count": 1, "severity": "warning", "routes": ["slack"], "runbook": "drain the queue"},
    ]}))
    process = EsperProcess({
        "ESPER_API_TOKEN": TOKEN, "REDIS_URL": f"redis://127.0.0.1:{redis_port}", "ESPER_FORGE_AT_START": "off",
        "NISSA_RULES_FILE": str(rules), "NISSA_SLACK_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/hook",
        "NISSA_WEBHOOK_MAX_ATTEMPTS": "1", "NISSA_WEBHOOK_BACKOFF_MS": "10", "NISSA_WEBHOOK_TIMEOUT_MS": "200",
    })
    yield process, redis_port, redis
    process.remove()
    if redis.poll() is None:
        redis.terminate()
        redis.wait()


def test_each_check_fails_when_its_condition_is_broken(broken):
    process, redis_port, redis = broken
    url = process.url

    # The forge never ran (ESPER_FORGE_AT_START=off).
    rc, out = check("check_forge.sh", url)
    assert rc == 1 and "never run" in out

    # The hair-trigger rule fires on the first queue-depth sample and its slack webhook is dead.
    out = fails("check_alerts.sh", url)
    assert out and "oona_queue_depth" in out and "drain the queue" in out
    assert fails("check_deliveries.sh", url)

    # Depth of the normal stream over the limit: entries added behind the server's back.
    depth = requests.get(url + "/api/v1/oona/metrics", timeout=5).json()["queue_depth_normal"]
    for i in range(5):
        subprocess.run(["redis-cli", "-p", str(redis_port), "XADD", "esper:{bus}:oona.normal", "*", "junk", str(i)], check=True, capture_output=True)
    out = fails("check_queue_depth.sh", url, ESPER_QUEUE_DEPTH_LIMIT=str(depth + 3))
    assert out and "depth" in out

    # A seed whose kernel leaks gradients into the host: the run's isolation violations.
    job = requests.post(url + "/api/v1/tezzeret/jobs", json={"blueprint_id": "BP008", "parameters": {}}, headers=AUTH, timeout=10)
    assert job.status_code == 202, job.text
    assert eventually(lambda: requests.get(url + "/api/v1/urza/blueprints/BP008", timeout=2).status_code == 200, 60)
    run = requests.post(url + "/api/v1/runs", headers=AUTH, timeout=10, json={
        "dataset": {"kind": "two_moons", "samples": 400}, "model": {"hidden_sizes": [64, 64]}, "epochs": 100000,
        "batch_size": 64, "learning_rate": 0.001, "seed": 3, "policy": "heuristic",
        "seeds": {"slots": ["slot-0"], "blueprints": ["BP008"], "warmup_epochs": 1, "plateau_epochs": 1, "plateau_delta": 1,
                  "max_germinations": 1, "fault_injection": {"detach_leak": True}}})
    assert run.status_code == 202, run.text
    run_id = run.json()["id"]
    out = fails("check_isolation.sh", url)
    requests.post(f"{url}/api/v1/runs/{run_id}/stop", headers=AUTH, timeout=10)
    assert out and run_id in out

    # Redis stopped: health names it.
    redis.terminate()
    redis.wait()
    out = fails("check_health.sh", url)
    assert out and "redis" in out
