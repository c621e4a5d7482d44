"""Esper's alerts in a real Alertmanager (Debian's prometheus-alertmanager, installed by
scripts/bootstrap.sh): Esper posts to its /api/v2/alerts, and the fingerprint and group key
Alertmanager computes — in its API and in its own webhook notifications — are the ones in
Esper's webhooks; the resolution reaches it too.

The alert comes from real training: a rule on `tolaria.validation.loss` fires while a run
that cannot learn (learning rate 1e-7) keeps the loss high, and resolves when a run that
learns reports a low one."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests


def instant(text: str) -> datetime:
    """An RFC 3339 UTC timestamp with any number of fraction digits (up to 6 kept)."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(whole + "+00:00").replace(microsecond=int((fraction + "000000")[:6]))

from esper_process import EsperProcess, eventually, free_port

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

RULES = {
    "version": 1,
    "rules": [
        {
            "name": "validation_loss_high", "metric": "tolaria.validation.loss", "comparator": ">", "threshold": 1.5,
            "for_count": 1, "severity": "warning", "routes": ["slack"],
            "summary": "Validation loss above 1.5", "runbook": "Check the learning rate.",
        }
    ],
}


class Receiver:
    """Records JSON POSTs by path (Esper's webhooks and Alertmanager's notifications)."""

    def __init__(self):
        self.posts: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.posts.append((self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self, path: str) -> list[dict]:
        with self.lock:
            return [body for p, body in self.posts if p == path]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture()
def alertmanager(receiver):
    assert ALERTMANAGER, "prometheus-alertmanager is missing: scripts/bootstrap.sh installs it"
    work = tempfile.mkdtemp(prefix="esper-alertmanager-")
    config = os.path.join(work, "alertmanager.yml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f"""route:
  receiver: hook
  group_by: [alertname, source]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {receiver.url}/alertmanager
        send_resolved: true
""")
    port = free_port()
    log = open(os.path.join(work, "alertmanager.log"), "wb")
    process = subprocess.Popen(
        [ALERTMANAGER, f"--config.file={config}", f"--storage.path={work}/data",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        ready = eventually(lambda: requests.get(url + "/-/ready", timeout=1).status_code == 200, 30)
        if not ready:
            with open(os.path.join(work, "alertmanager.log"), encoding="utf-8", errors="replace") as f:
                pytest.fail("alertmanager did not start: " + f.read())
        version = requests.get(url + "/api/v2/status", timeout=5).json()["versionInfo"]["version"]
        yield {"url": url, "version": version}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def start_run(url: str, learning_rate: float, epochs: int) -> str:
    response = requests.post(url + "/api/v1/runs", json={
        "dataset": {"kind": "digits"}, "model": {"hidden_sizes": [16]}, "epochs": epochs,
        "learning_rate": learning_rate, "seed": 1}, timeout=10)
    assert response.status_code == 202, response.text
    run_id = response.json()["id"]
    assert eventually(lambda: requests.get(f"{url}/api/v1/runs/{run_id}", timeout=5).json()["status"] == "succeeded", 120)
    return run_id


def test_alertmanager_sees_esper_alerts_with_the_same_fingerprint(receiver, alertmanager):
    work = tempfile.mkdtemp(prefix="esper-am-rules-")
    rules = os.path.join(work, "rules.json")
    with open(rules, "w", encoding="utf-8") as f:
        json.dump(RULES, f)
    esper = EsperProcess(env={
        "NISSA_RULES_FILE": rules,
        "NISSA_ALERTMANAGER_URL": alertmanager["url"],
        "NISSA_SLACK_WEBHOOK_URL": receiver.url + "/slack",
        "NISSA_WEBHOOK_BACKOFF_MS": "100",
    })
    try:
        # A run that cannot learn: the validation loss stays near ln 10 > 1.5, the alert fires.
        start_run(esper.url, 1e-7, 2)
        firing = eventually(lambda: [b for b in receiver.bodies("/slack") if b["status"] == "firing"], 30)
        assert firing, esper.log()
        hook = firing[0]
        esper_alert = hook["alerts"][0]
        assert esper_alert["labels"]["alertname"] == "validation_loss_high"

        # Alertmanager's API lists it under the same fingerprint.
        def listed():
            alerts = requests.get(alertmanager["url"] + "/api/v2/alerts", timeout=5).json()
            return [a for a in alerts if a["labels"].get("alertname") == "validation_loss_high"]
        in_api = eventually(listed, 30)
        assert in_api, "Alertmanager never received the alert"
        assert in_api[0]["fingerprint"] == esper_alert["fingerprint"]
        assert in_api[0]["labels"] == esper_alert["labels"]
        assert in_api[0]["status"]["state"] == "active"

        # Its own notification: same fingerprint and the same group key.
        notified = eventually(lambda: [b for b in receiver.bodies("/alertmanager") if b["status"] == "firing"], 30)
        assert notified, "Alertmanager sent no notification"
        assert notified[0]["alerts"][0]["fingerprint"] == esper_alert["fingerprint"]
        assert notified[0]["groupKey"] == hook["groupKey"] == '{}:{alertname="validation_loss_high", source="tolaria"}'
        assert notified[0]["groupLabels"] == hook["groupLabels"]

        # A run that learns: the loss drops, Esper resolves the alert, and so does Alertmanager.
        start_run(esper.url, 0.05, 2)
        resolved = eventually(lambda: [b for b in receiver.bodies("/slack") if b["status"] == "resolved"], 30)
        assert resolved and resolved[0]["alerts"][0]["fingerprint"] == esper_alert["fingerprint"]
        assert eventually(lambda: not listed(), 30), "Alertmanager still lists the alert as active"
        am_resolved = eventually(lambda: [b for b in receiver.bodies("/alertmanager") if b["status"] == "resolved"], 30)
        assert am_resolved, "Alertmanager sent no resolved notification"
        assert am_resolved[0]["alerts"][0]["fingerprint"] == esper_alert["fingerprint"]
        # The same instant: Alertmanager (Go's RFC3339Nano) drops trailing zeros of the fraction
        # ("21.87Z"), Esper writes milliseconds ("21.870Z").
        assert instant(am_resolved[0]["alerts"][0]["endsAt"]) == instant(resolved[0]["alerts"][0]["endsAt"])

        # Every post to Alertmanager was accepted.
        deliveries = requests.get(esper.url + "/api/v1/nissa/deliveries", timeout=5).json()["items"]
        to_alertmanager = [d for d in deliveries if d["receiver"] == "alertmanager"]
        assert {d["alert_status"] for d in to_alertmanager} == {"firing", "resolved"}
        assert all(d["status"] == "delivered" for d in to_alertmanager), to_alertmanager
    finally:
        esper.remove()
        shutil.rmtree(work, ignore_errors=True)
