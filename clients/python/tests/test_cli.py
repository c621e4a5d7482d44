"""`esper-client` subcommands against a live server: runs, alerts, seeds; errors are one line
(problem+json's status, title and detail), never a traceback."""
import json
import subprocess
import sys
import time

from esper_client.cli import main as cli_main

RUN = {"dataset": {"kind": "two_moons", "samples": 200}, "model": {"hidden_sizes": [16]}, "epochs": 3, "learning_rate": 0.01}


def call(server, capsys, *argv, token=True):
    prefix = ["--url", server["url"]] + (["--token", server["token"]] if token else [])
    code = cli_main(prefix + list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def until(predicate, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_runs_seeds_and_alerts_subcommands(server, capsys):
    code, out, err = call(server, capsys, "runs", "start", json.dumps(RUN))
    assert code == 0, err
    run_id = json.loads(out)["id"]
    code, out, _ = call(server, capsys, "runs", "list")
    assert code == 0 and run_id in [item["id"] for item in json.loads(out)["items"]]
    assert until(lambda: json.loads(call(server, capsys, "runs", "show", run_id)[1])["status"] == "succeeded")
    code, out, _ = call(server, capsys, "runs", "list", "--status", "succeeded")
    assert code == 0 and run_id in [item["id"] for item in json.loads(out)["items"]]
    code, out, _ = call(server, capsys, "seeds", "list", run_id)
    assert code == 0 and "items" in json.loads(out)
    code, out, _ = call(server, capsys, "alerts", "list", "--state", "firing")
    assert code == 0 and "items" in json.loads(out)
    code, out, _ = call(server, capsys, "alerts")
    assert code == 0 and "items" in json.loads(out)

    # A long run: pause says where it stops, stop of a paused run stops at once.
    code, out, err = call(server, capsys, "runs", "start", json.dumps({**RUN, "epochs": 100000}))
    assert code == 0, err
    long_id = json.loads(out)["id"]
    assert until(lambda: json.loads(call(server, capsys, "runs", "show", long_id)[1])["status"] == "running")
    code, out, err = call(server, capsys, "runs", "pause", long_id)
    assert code == 0, err
    paused = json.loads(out)
    assert paused["status"] == "paused"
    assert paused["stop_point"]["takes_effect"] == "epoch_boundary"
    assert paused["stop_point"]["poll"] == f"/api/v1/runs/{long_id}"
    code, out, err = call(server, capsys, "runs", "stop", long_id)
    assert code == 0, err
    assert json.loads(out)["stop_point"]["takes_effect"] == "immediately"


def test_errors_are_one_line_without_a_traceback(server, capsys):
    cases = [
        (["runs", "show", "00000000-0000-4000-8000-000000000000"], "404"),
        (["runs", "show", "not-a-run"], "400"),
        (["runs", "start", '{"epochs": -1}'], "422"),
        (["runs", "start", "{not json"], "not valid JSON"),
        (["runs", "start", "@/nonexistent/config.json"], "cannot read"),
        (["alerts", "show", "alert-999-abc"], "404"),
        (["alerts", "ack", "alert-999-abc", "--by", "me"], "404"),
        (["seeds", "cull", "00000000-0000-4000-8000-000000000000", "s1"], "404"),
    ]
    for argv, expected in cases:
        code, out, err = call(server, capsys, *argv)
        assert code == 2, (argv, out, err)
        assert out == "", argv
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("esper-client: ") and expected in lines[0], (argv, err)
    # Without the token a mutating call is refused, once.
    code, _, err = call(server, capsys, "runs", "start", json.dumps(RUN), token=False)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "401" in err
    # Nobody listening.
    code = cli_main(["--url", "http://127.0.0.1:9", "runs", "list"])
    err = capsys.readouterr().err
    assert code == 2 and "no answer" in err and "Traceback" not in err


def test_the_installed_entry_point_prints_no_traceback(server):
    result = subprocess.run([sys.executable, "-m", "esper_client.cli", "--url", server["url"], "runs", "show", "x"],
                            capture_output=True, text=True, timeout=30,
                            env={"PYTHONPATH": __import__("os").path.join(__import__("os").path.dirname(__file__), "..")})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
