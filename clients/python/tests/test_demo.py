"""`esper demo --small` runs to the end against a fresh server and its summary shows a grown
network."""
import json
import os
import re
import socket
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from esper_client import EsperClient
from esper_client.demo import Demo
from esper_process import ROOT


def test_the_small_demo_grows_the_network():
    binary = os.environ.get("ESPER_BINARY", os.path.join(ROOT, ".build", "debug", "esper"))
    with tempfile.TemporaryDirectory(prefix="esper-demo-") as work:
        data = os.path.join(work, "demo")
        result = subprocess.run([binary, "demo", "--small", "--data-dir", data], capture_output=True, text=True, timeout=600, cwd=work)
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        assert len(re.findall(r"^epoch +\d+/40 ", out, re.M)) == 40
        added = int(re.search(r"^parameters added: (\d+)", out, re.M).group(1))
        assert added > 0, out
        assert re.search(r"fossilized [1-9]", out), out
        assert "== Esper demo summary ==" in out and "simic: " in out
        assert os.path.exists(os.path.join(data, "tamiyo", "field_reports.log"))
        assert "field reports: " in out and data in out


class _SimicServer(BaseHTTPRequestHandler):
    """Stands in for a server that has Simic's routes (issue 8), until the real one lands."""

    posted = []

    def _answer(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        if self.path == "/api/v1/simic/jobs":
            self._answer(405, {"type": "/problems/method-not-allowed", "title": "Method Not Allowed", "status": 405, "detail": "", "errors": []}, [("Allow", "POST")])
        else:
            self._answer(200, {"job_id": "simic-1", "status": "succeeded"})

    def do_POST(self):  # noqa: N802
        type(self).posted.append((self.path, self.headers.get("Idempotency-Key")))
        self._answer(202, {"job_id": "simic-1", "status": "queued"})

    def log_message(self, *args):
        pass


def test_the_simic_step_runs_when_the_server_serves_it_and_is_skipped_otherwise(capsys):
    httpd = HTTPServer(("127.0.0.1", 0), _SimicServer)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        demo = Demo("esper", tempfile.mkdtemp(), small=True)
        demo.client = EsperClient(f"http://127.0.0.1:{httpd.server_address[1]}")
        assert demo.simic_cycle() == "job simic-1 succeeded"
        assert _SimicServer.posted[0][0] == "/api/v1/simic/jobs" and _SimicServer.posted[0][1]
    finally:
        httpd.shutdown()
    # A server without Simic: 404 → skipped, said so.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    empty = HTTPServer(("127.0.0.1", port), _NotFound)
    threading.Thread(target=empty.serve_forever, daemon=True).start()
    try:
        demo.client = EsperClient(f"http://127.0.0.1:{port}")
        assert demo.simic_cycle().startswith("skipped")
        assert "[simic] skipped" in capsys.readouterr().out
    finally:
        empty.shutdown()


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        data = b'{"type":"/problems/not-found","title":"Not Found","status":404,"detail":"no route","errors":[]}'
        self.send_response(404)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass
