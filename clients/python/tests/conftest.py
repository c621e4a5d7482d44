"""Starts a real `esper serve` (the debug build) with its own data directory and managed
redis-server for the client tests, and stops it afterwards."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server():
    binary = os.environ.get("ESPER_BINARY", os.path.join(ROOT, ".build", "debug", "esper"))
    if not os.path.exists(binary):
        pytest.fail(f"{binary} is missing: run `swift build` first")
    data = tempfile.mkdtemp(prefix="esper-client-test-")
    port = _free_port()
    token = "client-test-token-0123456789"
    env = dict(os.environ, ESPER_ACCESS_LOG="off", ESPER_API_TOKEN=token)
    process = subprocess.Popen([binary, "serve", "--port", str(port), "--data-dir", data + "/var"],
                               env=env, cwd=data, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("esper did not become healthy")
    yield {"url": url, "token": token, "process": process}
    process.terminate()
    process.wait(timeout=20)
    shutil.rmtree(data, ignore_errors=True)
