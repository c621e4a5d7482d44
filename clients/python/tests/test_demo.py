"""`esper demo --small` runs to the end against a fresh server and its summary shows a grown
network (digits, widening) and a grown structure (MNIST-1D, a conv branch)."""
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
        assert len(re.findall(r"^epoch +\d+/60 ", out, re.M)) == 60
        added = int(re.search(r"^parameters added: (\d+)", out, re.M).group(1))
        assert added > 0, out
        assert re.search(r"fossilized [1-9]", out), out
        assert "== Esper demo summary ==" in out
        # The Simic cycle ran on the run's field reports and ended (published or rejected).
        assert re.search(r"^simic: job \S+ (succeeded|rejected)", out, re.M), out
        assert os.path.exists(os.path.join(data, "tamiyo", "field_reports.log"))
        assert "field reports: " in out and data in out
        # The MNIST-1D run: the 8-unit host grew a conv branch, shown with its size and test accuracy vs the fixed host.
        grown = re.search(r"^mnist1d grown architecture: 40→\S+→10 with conv branches \[([^\]]*)\], (\d+) parameters", out, re.M)
        assert grown and "conv-branch" in grown.group(1) and int(grown.group(2)) > 418, out
        accuracy = re.search(r"^mnist1d test accuracy: grown ([\d.]+) % vs fixed 8-unit host ([\d.]+) %", out, re.M)
        assert accuracy and float(accuracy.group(1)) > float(accuracy.group(2)), out


def test_the_simic_step_is_skipped_on_a_server_without_it(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    empty = HTTPServer(("127.0.0.1", port), _NotFound)
    threading.Thread(target=empty.serve_forever, daemon=True).start()
    try:
        demo = Demo("esper", tempfile.mkdtemp(), small=True)
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
