"""Every runbook script against a live server: each passes on a healthy server and fails
(exit 1, a FAIL line naming the problem) when its condition is broken for real."""
import json
import re
import os
import shutil
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
        [os.path.join(RUNBOOK, name)],
        env={**os.environ, "ESPER_URL": url, "ESPER_API_TOKEN": TOKEN, "ESPER_DRILLS_CONFIRM": "yes", "ESPER_DRILL_HOLD_S": "1", **env},
        capture_output=True, text=True, timeout=60,
    )
    return result.returncode, result.stdout + result.stderr


def fails(name, url, naming="", **env):
    """Polls until the check fails, its message containing `naming` (the server samples some
    things every few seconds, and health checks are cached briefly)."""
    return eventually(lambda: (lambda rc, out: out if rc == 1 and naming in out else None)(*check(name, url, **env)), 45, 0.5)


@pytest.fixture(scope="module")
def healthy():
    # Reads protected too: the scripts must send the token.
    process = EsperProcess({"ESPER_API_TOKEN": TOKEN, "ESPER_API_PROTECT_READS": "on"})
    eventually(lambda: requests.get(process.url + "/api/v1/tezzeret/forge", headers=AUTH, timeout=2).json()["state"] == "idle"
               and requests.get(process.url + "/api/v1/tezzeret/forge", headers=AUTH, timeout=2).json()["last_run"], 120)
    # Warmed up: Oona's first queue-depth report (right after start) has been ingested.
    eventually(lambda: "esper_oona_queue_depth{" in requests.get(process.url + "/metrics", timeout=2).text
               and "esper_telemetry_packets_total{" in requests.get(process.url + "/metrics", timeout=2).text, 30)
    yield process
    process.remove()


def test_every_check_passes_on_a_healthy_server(healthy):
    assert len(SCRIPTS) >= 10
    for name in SCRIPTS:
        if name == "check_prometheus.sh":
            continue  # needs a Prometheus: its own test below
        rc, out = check(name, healthy.url)
        assert rc == 0, out
        assert ": OK: " in out


def test_metrics_check_passes_right_after_start():
    # No family waits for a first sample: the check passes as soon as /healthz says ok.
    process = EsperProcess({"ESPER_FORGE_AT_START": "off"})
    try:
        rc, out = check("check_metrics.sh", process.url)
        assert rc == 0, out
    finally:
        process.remove()


def test_every_check_fails_when_the_server_is_unreachable():
    url = f"http://127.0.0.1:{free_port()}"
    nowhere = f"http://127.0.0.1:{free_port()}"
    for name in SCRIPTS:
        rc, out = check(name, url, PROMETHEUS_URL=nowhere)
        assert rc == 1 and ("no answer" in out or "not ready" in out), (name, out)


def test_conservative_mode_check_fails_while_it_is_on(healthy):
    on = requests.put(healthy.url + "/api/v1/tamiyo/mode", json={"conservative": True, "reason": "runbook test"}, headers=AUTH, timeout=5)
    assert on.status_code == 200
    try:
        rc, out = check("check_conservative_mode.sh", healthy.url)
        assert rc == 1 and "runbook test" in out
    finally:
        requests.put(healthy.url + "/api/v1/tamiyo/mode", json={"conservative": False}, headers=AUTH, timeout=5)
    assert check("check_conservative_mode.sh", healthy.url)[0] == 0
    # The bus' conservative mode too.
    on = requests.put(healthy.url + "/api/v1/oona/mode", json={"conservative": True, "reason": "queue spike"}, headers=AUTH, timeout=5)
    assert on.status_code == 200 and on.json()["source"] == "manual"
    try:
        rc, out = check("check_conservative_mode.sh", healthy.url)
        assert rc == 1 and "bus conservative mode" in out and "queue spike" in out
    finally:
        requests.put(healthy.url + "/api/v1/oona/mode", json={"conservative": False}, headers=AUTH, timeout=5)
    assert check("check_conservative_mode.sh", healthy.url)[0] == 0


def test_simic_check_fails_for_a_rejected_job_and_names_the_reasons(healthy):
    # No field reports on this server yet: a job is rejected ("training_reports 0 below min 1").
    job = requests.post(healthy.url + "/api/v1/simic/jobs", json={}, headers=AUTH, timeout=10)
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    finished = lambda: requests.get(f"{healthy.url}/api/v1/simic/jobs/{job_id}", headers=AUTH, timeout=5).json()["job"]["state"] != "queued"
    assert eventually(finished, 60)
    out = fails("check_simic.sh", healthy.url, SIMIC_JOB_ID=job_id)
    assert out and "rejected by validation" in out and "training_reports" in out
    rc, out = check("check_simic.sh", healthy.url)  # no job named: Tamiyo refused nothing
    assert rc == 0, out


def test_drills_ask_before_paging_and_are_not_in_the_run_every_check_loop(healthy):
    # Without a terminal and without --yes / ESPER_DRILLS_CONFIRM: refused, nothing drilled.
    before = requests.get(healthy.url + "/api/v1/nissa/drills", headers=AUTH, timeout=5).json()["items"]
    result = subprocess.run([os.path.join(RUNBOOK, "check_drills.sh")], env={**os.environ, "ESPER_URL": healthy.url,
                            "ESPER_API_TOKEN": TOKEN}, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 1 and "--yes" in result.stderr
    assert requests.get(healthy.url + "/api/v1/nissa/drills", headers=AUTH, timeout=5).json()["items"] == before
    # With --yes the drills fire, are held (listed as holding meanwhile) and clear.
    result = subprocess.Popen([os.path.join(RUNBOOK, "check_drills.sh"), "--yes"], env={**os.environ, "ESPER_URL": healthy.url,
                              "ESPER_API_TOKEN": TOKEN, "ESPER_DRILL_HOLD_S": "3"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert eventually(lambda: any(d["state"] == "holding" for d in requests.get(healthy.url + "/api/v1/nissa/drills", headers=AUTH,
                                                                                timeout=5).json()["items"]), 20)
    firing = requests.get(healthy.url + "/api/v1/nissa/alerts?state=firing", headers=AUTH, timeout=5).json()["items"]
    assert firing and all(alert["drill"] for alert in firing)
    out, _ = result.communicate(timeout=60)
    assert result.returncode == 0, out
    assert "held=3" in out
    # The runbook's loop leaves the drills out.
    text = open(os.path.join(RUNBOOK, "..", "..", "docs", "operator_runbook.md")).read()
    loop = next(line for line in text.splitlines() if line.startswith("for check in clients/runbook/check_*.sh"))
    assert "check_drills.sh" in loop


def test_a_wrong_token_fails_the_checks(healthy):
    for name in ("check_forge.sh", "check_drills.sh"):
        rc, out = check(name, healthy.url, ESPER_API_TOKEN="wrong-token-0123456789")
        assert rc == 1 and "403" in out, out


@pytest.fixture
def prometheus(tmp_path):
    """Debian's Prometheus (scripts/bootstrap.sh installs it) scraping a target every second."""
    if not shutil.which("prometheus"):
        pytest.skip("prometheus is not installed (scripts/bootstrap.sh installs it)")
    started = []

    def start(target):
        port = free_port()
        directory = tmp_path / f"prometheus-{port}"
        directory.mkdir()
        (directory / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s}\n"
            f"scrape_configs: [{{job_name: nissa, static_configs: [{{targets: ['{target}']}}]}}]\n")
        process = subprocess.Popen(
            ["prometheus", f"--config.file={directory / 'prometheus.yml'}", f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        assert eventually(lambda: requests.get(url + "/-/ready", timeout=1).status_code == 200, 30)
        return url

    yield start
    for process in started:
        process.terminate()
        process.wait()


def test_prometheus_check_passes_when_it_scrapes_the_server_and_fails_when_not(healthy, prometheus):
    scraping = prometheus(healthy.url.removeprefix("http://"))
    assert eventually(lambda: check("check_prometheus.sh", healthy.url, PROMETHEUS_URL=scraping)[0] == 0, 30)
    elsewhere = prometheus(f"127.0.0.1:{free_port()}")
    # Once Prometheus has tried the dead target: failed, naming it.
    out = eventually(lambda: (lambda rc, out: out if rc == 1 and "not up" in out else None)(
        *check("check_prometheus.sh", healthy.url, PROMETHEUS_URL=elsewhere)), 30, 0.5)
    assert out and "nissa target not up" in out


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

    # Backlog over the limit: a consumer group whose consumer stopped reading, and entries
    # added behind the server's back that it never takes. (History alone is no backlog: the
    # server's own groups consume these entries.)
    depth = requests.get(url + "/api/v1/oona/metrics", timeout=5).json()["queue_depth_normal"]
    cli = ["redis-cli", "-p", str(redis_port)]
    subprocess.run(cli + ["XGROUP", "CREATE", "esper:{bus}:oona.normal", "stalled", "$"], check=True, capture_output=True)
    # (Redis creates the consumer only when a read returns something.)
    subprocess.run(cli + ["XADD", "esper:{bus}:oona.normal", "*", "junk", "first"], check=True, capture_output=True)
    subprocess.run(cli + ["XREADGROUP", "GROUP", "stalled", "gone", "COUNT", "1", "STREAMS", "esper:{bus}:oona.normal", ">"],
                   check=True, capture_output=True)
    for i in range(5):
        subprocess.run(cli + ["XADD", "esper:{bus}:oona.normal", "*", "junk", str(i)], check=True, capture_output=True)
    out = fails("check_queue_depth.sh", url, naming="normal stream backlog", ESPER_QUEUE_DEPTH_LIMIT=str(depth + 3))
    assert out and "normal stream backlog" in out

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
    out = fails("check_health.sh", url, naming="redis")
    assert out and "redis" in out


def runbook_commands():
    """The read-only curl commands of docs/operator_runbook.md (code blocks and inline code),
    without placeholders, that talk to the server."""
    text = open(os.path.join(RUNBOOK, "..", "..", "docs", "operator_runbook.md")).read()
    candidates = re.findall(r"^(curl -s[^\n]*)$", text, re.M) + re.findall(r"`(curl -s [^`]*)`", text)
    commands = []
    for command in candidates:
        command = command.split("  #")[0].strip()
        if "<" in command or "localhost:9090" in command or " -X " in command or "$E" not in command:
            continue
        commands.append(command)
    return sorted(set(commands))


def test_the_runbook_names_every_script_and_its_read_commands_work(healthy):
    text = open(os.path.join(RUNBOOK, "..", "..", "docs", "operator_runbook.md")).read()
    for name in SCRIPTS:
        assert f"clients/runbook/{name}" in text or f"`{name}`" in text or name in text, name
    # A short run with a seed first, so the commands read real runs, seeds and field reports.
    run = requests.post(healthy.url + "/api/v1/runs", headers=AUTH, timeout=10, json={
        "dataset": {"kind": "two_moons", "samples": 400}, "model": {"hidden_sizes": [64]}, "epochs": 30,
        "learning_rate": 0.001, "policy": "heuristic",
        "seeds": {"slots": ["slot-0"], "warmup_epochs": 1, "plateau_epochs": 1, "plateau_delta": 1, "max_germinations": 2}})
    assert run.status_code == 202, run.text
    run_id = run.json()["id"]
    assert eventually(lambda: requests.get(f"{healthy.url}/api/v1/runs/{run_id}", headers=AUTH, timeout=2).json()["status"] == "succeeded", 60)
    commands = runbook_commands()
    assert len(commands) >= 15
    for command in commands:
        # -f: an HTTP error fails the pipeline; reads are protected here, so the token goes too.
        runnable = command.replace("curl -s ", f"curl -sf -H 'Authorization: Bearer {TOKEN}' ", 1)
        result = subprocess.run(
            ["bash", "-c", "set -o pipefail; " + runnable],
            env={**os.environ, "E": healthy.url}, capture_output=True, text=True, timeout=30,
        )
        assert result.returncode == 0, (command, result.stderr)
        assert not result.stderr.strip(), (command, result.stderr)


def test_workers_check_fails_when_no_worker_takes_training_jobs():
    # A pure control plane with no `esper worker` attached: training jobs would wait forever.
    process = EsperProcess({"ESPER_API_TOKEN": TOKEN, "ESPER_LOCAL_WORKERS": "off", "ESPER_FORGE_AT_START": "off"})
    try:
        rc, out = check("check_workers.sh", process.url)
        assert rc == 1 and "training" in out, out
        # Only the kinds an operator asks for are required; a bad kind is a usage error.
        rc, out = check("check_workers.sh", process.url, ESPER_WORKER_KINDS="bogus")
        assert rc == 2 and "bogus" in out, out
    finally:
        process.remove()


def test_check_studies_fails_on_a_study_without_progress():
    # No local workers: the study's runs stay queued, so it makes no progress at all.
    process = EsperProcess({"ESPER_API_TOKEN": TOKEN, "ESPER_LOCAL_WORKERS": "off"})
    try:
        study = {"name": "stuck", "base": {"dataset": {"kind": "two_moons", "samples": 200}, "epochs": 2, "learning_rate": 0.01},
                 "arms": [{"name": "a"}], "seeds": [1]}
        created = requests.post(process.url + "/api/v1/studies", json=study, headers=AUTH, timeout=10)
        assert created.status_code == 202, created.text
        study_id = created.json()["id"]
        rc, out = check("check_studies.sh", process.url)
        assert rc == 0 and "1 running studies" in out, out
        out = fails("check_studies.sh", process.url, study_id, ESPER_STUDY_STUCK_SECONDS="1")
        assert out and "no progress for" in out, out
        rc, out = check("check_studies.sh", process.url, ESPER_STUDY_STUCK_SECONDS="soon")
        assert rc == 1 and "whole number" in out
    finally:
        process.remove()
