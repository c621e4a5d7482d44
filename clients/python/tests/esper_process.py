"""A real `esper serve` (the debug build unless ESPER_BINARY says otherwise) on a free port
with its own data directory, for tests that need a live server with particular settings."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(predicate, seconds: float = 30.0, interval: float = 0.2):
    """Polls `predicate` until it returns something truthy; returns that, or the last value."""
    deadline = time.monotonic() + seconds
    value = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except requests.RequestException:
            value = None
        if value:
            return value
        time.sleep(interval)
    return value


class EsperProcess:
    def __init__(self, env: dict | None = None, access_log: bool = False):
        binary = os.environ.get("ESPER_BINARY", os.path.join(ROOT, ".build", "debug", "esper"))
        if not os.path.exists(binary):
            raise RuntimeError(f"{binary} is missing: run `swift build` first")
        self.work = tempfile.mkdtemp(prefix="esper-test-")
        self.data = os.path.join(self.work, "var")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.work, "server.log")
        full_env = dict(os.environ, ESPER_ACCESS_LOG="on" if access_log else "off")
        full_env.pop("ESPER_API_TOKEN", None)
        full_env.update(env or {})
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [binary, "serve", "--port", str(self.port), "--data-dir", self.data],
            env=full_env, cwd=self.work, stdout=self._log, stderr=subprocess.STDOUT,
        )
        if not eventually(lambda: requests.get(self.url + "/healthz", timeout=1).status_code == 200, 60):
            self.stop()
            raise RuntimeError(f"esper did not become healthy; log: {self.log()}")

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def redis_socket(self) -> str:
        return os.path.join(self.data, "redis", "redis.sock")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.work, ignore_errors=True)
