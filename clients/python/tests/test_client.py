import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from esper_client import EsperAPIError, EsperClient
from esper_client.cli import main as cli_main


def test_health_and_version(server):
    client = EsperClient(server["url"])
    assert client.health()["status"] == "ok"
    assert client.version()["api"] == "v1"
    assert "esper_http_requests_total" in client.metrics_text()


def test_problem_details_become_typed_errors(server):
    client = EsperClient(server["url"])
    with pytest.raises(EsperAPIError) as caught:
        client.get("/api/v1/no-such-thing")
    assert caught.value.status == 404
    assert caught.value.type == "/problems/not-found"
    assert caught.value.request_id


def test_cli_health_and_errors(server, capsys):
    assert cli_main(["--url", server["url"], "health"]) == 0
    assert '"status": "ok"' in capsys.readouterr().out
    assert cli_main(["--url", server["url"], "get", "/api/v1/missing"]) == 2
    assert "404" in capsys.readouterr().err


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 with Retry-After twice, then 200; then serves two pages."""

    calls = 0

    def do_GET(self):  # noqa: N802 (http.server's naming)
        type(self).calls += 1
        if self.path.startswith("/flaky") and type(self).calls <= 2:
            body = b'{"type":"/problems/unavailable","title":"Service Unavailable","status":503,"detail":"down","errors":[]}'
            self.send_response(503)
            self.send_header("Retry-After", "0")
        elif self.path.startswith("/pages") and "cursor=c2" in self.path:
            body = b'{"items":[{"n":3}],"next_cursor":null}'
            self.send_response(200)
        elif self.path.startswith("/pages"):
            body = b'{"items":[{"n":1},{"n":2}],"next_cursor":"c2"}'
            self.send_response(200)
        else:
            body = b'{"ok":true}'
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky():
    httpd = HTTPServer(("127.0.0.1", 0), _Flaky)
    _Flaky.calls = 0
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_retries_503_with_retry_after(flaky):
    assert EsperClient(flaky).get("/flaky") == {"ok": True}
    assert _Flaky.calls == 3


def test_gives_up_after_max_retries(flaky):
    with pytest.raises(EsperAPIError) as caught:
        EsperClient(flaky, max_retries=1).get("/flaky")
    assert caught.value.status == 503


def test_paginates_with_cursor(flaky):
    assert [item["n"] for item in EsperClient(flaky).paginate("/pages", limit=2)] == [1, 2, 3]


def test_empty_pages_carry_a_null_next_cursor(server):
    # Found by schemathesis: an empty field-report page left `next_cursor` out.
    client = EsperClient(server["url"])
    assert client.get("/api/v1/tamiyo/field-reports", run="00000000-0000-0000-0000-000000000000") == {"items": [], "next_cursor": None}
    assert client.get("/api/v1/runs", status="paused") == {"items": [], "next_cursor": None}


def test_bodyless_posts_refuse_unknown_fields(server):
    # Found by schemathesis: {"x": 1} (and non-objects) passed for the forge and Urza's verify.
    client = EsperClient(server["url"], token=server["token"])
    for path in ("/api/v1/urza/verify", "/api/v1/tezzeret/forge"):
        with pytest.raises(EsperAPIError) as caught:
            client.post(path, {"x": 1})
        assert caught.value.status == 400 and caught.value.type == "/problems/unknown-field", path
        with pytest.raises(EsperAPIError) as caught:
            client.post(path, [1, 2])
        assert caught.value.status == 422, path
        assert client.post(path, {}) is not None


def test_events_of_a_run_and_resume_after_a_disconnect(server):
    from esper_client.client import EsperClient

    client = EsperClient(server["url"], token=server["token"])
    run = client.post("/api/v1/runs", {"dataset": {"kind": "two_moons", "samples": 200}, "epochs": 4,
                                       "learning_rate": 0.01}, create=True)
    stream = client.events(run_id=run["id"], types=["epoch", "run"], last_event_id="0-0,0-0,0-0")
    first = [next(stream) for _ in range(3)]
    stream.close()  # the connection goes away
    # Reconnect after the last event seen: the rest follows, nothing twice.
    rest = []
    for event in client.events(run_id=run["id"], types=["epoch", "run"], last_event_id=first[-1].id):
        rest.append(event)
        if event.event == "run" and event.data.get("kind") == "run_status" and event.data.get("status") == "succeeded":
            break
    events = first + rest
    assert [e.data["epoch"] for e in events if e.event == "epoch"] == [0, 1, 2, 3]
    assert [e.data["status"] for e in events if e.event == "run" and e.data["kind"] == "run_status"] == [
        "queued", "running", "succeeded"]
    assert len({e.id for e in events}) == len(events)
