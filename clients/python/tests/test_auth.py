"""The auth matrix against a live server: no token, a wrong token and the right one, on read
and write endpoints, with reads open and with ESPER_API_PROTECT_READS=on."""
import pytest
import requests

from esper_process import EsperProcess, eventually

TOKEN = "auth-matrix-token-0123456789"
READS = ["/api/v1/runs", "/api/v1/tamiyo/mode", "/api/v1/nissa/alerts", "/api/v1/oona/metrics"]
PUBLIC = ["/healthz", "/metrics", "/metrics/summary", "/api/v1/version"]  # monitoring stays open
# Mutating requests that change nothing lasting: validate a template, select one, switch
# conservative mode off (it is off).
WRITES = [
    ("POST", "/api/v1/karn/templates/BP001/validate", {"parameters": {}}),
    ("POST", "/api/v1/karn/select", {"context": "auth"}),
    ("PUT", "/api/v1/tamiyo/mode", {"conservative": False}),
]


def call(url, method, path, body=None, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, url + path, json=body, headers=headers, timeout=10)


@pytest.fixture(scope="module", params=["reads-open", "reads-protected"])
def server(request):
    protect = request.param == "reads-protected"
    process = EsperProcess(
        {"ESPER_API_TOKEN": TOKEN, "ESPER_API_PROTECT_READS": "on" if protect else "off", "ESPER_FORGE_AT_START": "off"},
        access_log=True,
    )
    yield process, protect
    process.remove()


def test_writes_need_the_right_token(server):
    process, _ = server
    for method, path, body in WRITES:
        none = call(process.url, method, path, body)
        assert none.status_code == 401, (path, none.text)
        assert none.headers["WWW-Authenticate"].startswith("Bearer")
        assert none.headers["Content-Type"] == "application/problem+json"
        wrong = call(process.url, method, path, body, token="not-the-token-0123456789")
        assert wrong.status_code == 403, (path, wrong.text)
        right = call(process.url, method, path, body, token=TOKEN)
        assert right.status_code == 200, (path, right.text)


def test_reads_follow_protect_reads(server):
    process, protect = server
    for path in READS:
        none = call(process.url, "GET", path)
        wrong = call(process.url, "GET", path, token="not-the-token-0123456789")
        right = call(process.url, "GET", path, token=TOKEN)
        if protect:
            assert (none.status_code, wrong.status_code) == (401, 403), path
        else:
            assert (none.status_code, wrong.status_code) == (200, 200), path
        assert right.status_code == 200, path


def test_health_metrics_and_version_stay_open(server):
    process, _ = server
    for path in PUBLIC:
        assert call(process.url, "GET", path).status_code == 200, path


def test_the_token_is_never_logged(server):
    process, _ = server
    call(process.url, "PUT", "/api/v1/tamiyo/mode", {"conservative": False}, token=TOKEN)
    call(process.url, "GET", "/api/v1/runs", token=TOKEN)
    # The access log is on and (buffered, so eventually) shows the requests.
    log = eventually(lambda: process.log() if "/api/v1/runs" in process.log() else None, 10)
    assert log and "/api/v1/tamiyo/mode" in log
    assert TOKEN not in log
