"""check_deliveries.sh also fails when a receiver rejected a notification: a 4xx is not
retried (as in Alertmanager), so nothing stays pending, yet the notification never arrived."""
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

HERE = os.path.dirname(__file__)
RUNBOOK = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.abspath(os.path.join(RUNBOOK, "..", "python", "tests")))
from esper_process import EsperProcess, eventually  # noqa: E402


class _Gone(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(410)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_check_deliveries_fails_on_a_rejected_notification():
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Gone)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    process = EsperProcess({"NISSA_EMAIL_WEBHOOK_URL": f"http://127.0.0.1:{hook.server_address[1]}/email"})
    try:
        def check():
            result = subprocess.run([os.path.join(RUNBOOK, "check_deliveries.sh")], env={**os.environ, "ESPER_URL": process.url},
                                    capture_output=True, text=True, timeout=60)
            return result.returncode, result.stdout + result.stderr
        assert check()[0] == 0
        assert requests.post(process.url + "/api/v1/nissa/drills/tezzeret_compile_retry_high", timeout=30).status_code == 200
        assert eventually(lambda: [d for d in requests.get(process.url + "/api/v1/nissa/deliveries", timeout=5).json()["items"]
                                   if d["receiver"] == "email" and d["status"] == "rejected"], 30)
        rc, out = check()
        assert rc == 1 and "rejected" in out, out
    finally:
        process.remove()
        hook.shutdown()
        hook.server_close()
