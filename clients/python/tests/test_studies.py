"""Studies through the client and the CLI against a live server: create, show as a table,
curves, delete; bad studies become typed errors naming their fields."""
import json
import time

import pytest

from esper_client import EsperAPIError, EsperClient
from esper_client.cli import main as cli_main

BASE = {"dataset": {"kind": "two_moons", "samples": 200}, "epochs": 3, "learning_rate": 0.01}


def wait_completed(client, study_id, seconds=120):
    deadline = time.monotonic() + seconds
    study = client.study(study_id)
    while study["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.5)
        study = client.study(study_id)
    return study


def test_study_create_show_curves_delete(server, capsys, tmp_path):
    client = EsperClient(server["url"], token=server["token"])
    body = {"name": "cli study", "base": BASE, "arms": [{"name": "wide", "overrides": {"model": {"hidden_sizes": [64]}}}],
            "seeds": [1, 2], "controls": ["no_growth"]}
    path = tmp_path / "study.json"
    path.write_text(json.dumps(body))
    assert cli_main(["--url", server["url"], "--token", server["token"], "study", "create", f"@{path}"]) == 0
    study_id = capsys.readouterr().out.strip()
    study = wait_completed(client, study_id)
    assert study["status"] == "completed"
    assert [group["name"] for group in study["groups"]] == ["wide", "wide/no_growth"]

    assert cli_main(["--url", server["url"], "study", "show", study_id]) == 0
    table = capsys.readouterr().out
    accuracy = study["groups"][0]["statistics"]["final_validation_accuracy"]
    assert "wide/no_growth" in table
    assert any(verdict in table for verdict in ("not_distinguishable", "better", "worse"))
    assert f"{accuracy['mean'] * 100:.2f} ± {accuracy['std'] * 100:.2f}" in table
    assert "2/2" in table

    assert cli_main(["--url", server["url"], "study", "curves", study_id, "--metric", "validation_loss"]) == 0
    curves = capsys.readouterr().out
    assert curves.startswith("validation_loss") and "(2)" in curves and len(curves.strip().splitlines()) == 2 + 1 + 3

    assert any(item["id"] == study_id for item in client.studies())
    assert cli_main(["--url", server["url"], "--token", server["token"], "study", "delete", study_id]) == 0
    capsys.readouterr()
    with pytest.raises(EsperAPIError) as caught:
        client.study(study_id)
    assert caught.value.status == 404


def test_bad_studies_name_their_fields(server, capsys):
    client = EsperClient(server["url"], token=server["token"])
    with pytest.raises(EsperAPIError) as caught:
        client.create_study({"name": "bad", "base": dict(BASE, epochs=0), "arms": [{"name": "a", "overrides": {"batch_size": 0}}],
                             "seeds": [1], "controls": ["fixed_schedule"]})
    assert caught.value.status == 422
    # fixed_schedule repeats the grown runs' germinations: an arm without a policy has none.
    assert sorted(error.field for error in caught.value.errors) == ["arms[0].overrides.batch_size", "base.epochs", "base.policy"]
    with pytest.raises(EsperAPIError) as caught:
        client.create_study({"name": "bad", "base": dict(BASE, epochs=0), "arms": [{"name": "a", "overrides": {"batch_size": 0}}],
                             "seeds": [1]})
    assert sorted(error.field for error in caught.value.errors) == ["arms[0].overrides.batch_size", "base.epochs"]
    assert cli_main(["--url", server["url"], "--token", server["token"], "study", "create", "{"]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_summary_table_prints_test_accuracy_and_flops():
    from esper_client.studies import summary_table

    stats = {"n": 2, "mean": 0.9, "std": 0.01, "min": 0.89, "max": 0.91}
    flops = {"n": 2, "mean": 3.5e9, "std": 0.25e9, "min": 3.25e9, "max": 3.75e9}
    study = {"id": "s1", "name": "t", "status": "completed", "progress": {"planned": 2, "succeeded": 2},
             "groups": [{"name": "arm", "kind": "arm", "planned": 2, "failed": [],
                         "statistics": {"final_validation_accuracy": stats, "final_test_accuracy": dict(stats, mean=0.875),
                                        "training_flops": flops}}],
             "verdicts": []}
    table = summary_table(study)
    header = table.splitlines()[2]
    assert "test acc %" in header and "GFLOPs" in header
    assert "87.50 ± 1.00" in table and "3.500 ± 0.250" in table
