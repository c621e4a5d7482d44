"""The Grafana JSON datasource as the simpod plugin really calls it, replayed against a live
server. Each request is built the way the plugin's source builds it (simPod/GrafanaJsonDatasource,
src/DataSource.ts, src/variable/VariableSupport.ts, src/MetricFindQuery.ts and the query
builder of 0.6.5; DataSource.ts of 0.2.6 for the SimpleJSON routes), the shared query options
are those of its spec/DataSource.jest.ts, and the dashboard's own variable, panels and
annotations come from infra/grafana/dashboards/nissa-overview.json. Answers are checked the
way the plugin and Grafana read them (toDataFrame, transformMetricFindResponse, the zod
schema of the builder's metric list)."""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone

import pytest
import requests

from esper_process import eventually

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
DASHBOARD = os.path.join(ROOT, "infra", "grafana", "dashboards", "nissa-overview.json")


def regex_format(value) -> str:
    """Grafana's `regex` variable format, which the plugin asks for in targets and payloads:
    each value regex-escaped (`.` and `-` too), several as `(a|b)`; "All" with an all value
    is that value, unescaped."""
    def escape(text: str) -> str:
        return re.sub(r"[-\\^$*+?.()|\[\]{}/]", lambda m: "\\" + m.group(0), text)
    if isinstance(value, str):
        return escape(value)
    escaped = [escape(v) for v in value]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def interpolate(text: str, variables: dict[str, str]) -> str:
    for name, value in variables.items():
        text = text.replace("${" + name + "}", value).replace("$" + name, value)
    return text


def options(targets: list[dict], **extra) -> dict:
    """The DataQueryRequest of the plugin's spec (spec/DataSource.jest.ts), over the last hour."""
    now = datetime.now(timezone.utc)
    iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"  # noqa: E731
    body = {
        "app": "dashboard", "requestId": "Q102", "timezone": "", "panelId": 2, "dashboardId": 1893,
        "range": {"from": iso(now - timedelta(hours=1)), "to": iso(now + timedelta(minutes=1)),
                  "raw": {"from": "now-1h", "to": "now"}},
        "interval": "5s", "intervalMs": 5000, "targets": targets, "maxDataPoints": 1920,
        "scopedVars": {"__interval": {"text": "5s", "value": "5s"}, "__interval_ms": {"text": "5000", "value": 5000}},
        "startTime": int(now.timestamp() * 1000), "rangeRaw": {"from": "now-1h", "to": "now"},
    }
    body.update(extra)
    return body


def process_target(query: dict, variables: dict[str, str]) -> dict:
    """DataSource.processTarget: builder payload values and the target interpolated in regex format."""
    target = dict(query)
    payload = target.get("payload") or {}
    if isinstance(payload, dict):
        target["payload"] = {k: [interpolate(str(i), variables) for i in v] if isinstance(v, list)
                             else interpolate(str(v), variables) for k, v in payload.items()}
    target["target"] = interpolate(target["target"], variables)
    return target


def to_data_frame(item: dict) -> dict:
    """What Grafana's toDataFrame needs of each answer item: a time series or a table."""
    if "columns" in item:
        assert item["type"] == "table" and isinstance(item["rows"], list)
        assert all(len(row) == len(item["columns"]) for row in item["rows"])
        return {"kind": "table", "refId": item.get("refId")}
    assert isinstance(item["target"], str) and isinstance(item["datapoints"], list)
    assert all(len(p) == 2 and isinstance(p[1], int) for p in item["datapoints"])
    return {"kind": "series", "refId": item.get("refId"), "labels": item.get("tags")}


@pytest.fixture(scope="module")
def grafana(server):
    """A run that trained, so the datasource has series; `url` is the datasource URL."""
    url, token = server["url"], server["token"]
    response = requests.post(url + "/api/v1/runs", headers={"Authorization": "Bearer " + token}, json={
        "dataset": {"kind": "digits"}, "model": {"hidden_sizes": [16]}, "epochs": 3, "learning_rate": 0.01, "seed": 3},
        timeout=10)
    assert response.status_code == 202, response.text
    run_id = response.json()["id"]
    assert eventually(lambda: requests.get(f"{url}/api/v1/runs/{run_id}", timeout=5).json()["status"] == "succeeded", 120)
    base = url + "/grafana"
    # Grafana sends the token as the provisioned datasource's header (httpHeaderName1).
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token
    assert eventually(lambda: any(
        s.get("tags", {}).get("run") == run_id
        for s in session.post(base + "/query", json=options([{"refId": "A", "target": "tolaria.validation.loss"}]),
                               timeout=5).json()), 30)
    return {"url": base, "run": run_id, "http": session}


def test_save_and_test(grafana):
    assert grafana["http"].get(grafana["url"], timeout=5).status_code == 200  # testDatasource: GET <url>


def test_the_dashboards_run_variable_lists_runs(grafana):
    dashboard = json.load(open(DASHBOARD, encoding="utf-8"))
    variable = next(v for v in dashboard["templating"]["list"] if v["name"] == "run")
    query = variable["query"]
    # VariableQuery of src/types.d.ts: what VariableSupport.query reads.
    assert set(query) >= {"query", "format"} and query["format"] in ("string", "json")
    payload = json.loads(query["query"]) if query["format"] == "json" else {"target": regex_format(query["query"])}
    body = {"payload": payload, "range": options([])["range"]}
    answer = grafana["http"].post(grafana["url"] + "/variable", json=body, timeout=5)
    assert answer.status_code == 200, answer.text
    # transformMetricFindResponse: a frame with __text and __value fields.
    rows = answer.json()
    assert all(set(row) == {"__text", "__value"} for row in rows)
    assert grafana["run"] in [row["__value"] for row in rows]
    # The same variable with "Raw JSON" on.
    raw = grafana["http"].post(grafana["url"] + "/variable", json={"payload": json.loads('{"target":"runs"}'), "range": body["range"]},
                        timeout=5)
    assert raw.json() == rows


def test_panels_and_annotations_of_the_dashboard_with_variables_interpolated(grafana):
    dashboard = json.load(open(DASHBOARD, encoding="utf-8"))
    # Study panels need a study: StudyGrafanaTargetsTests (Swift) replays them against one.
    json_targets = [t for panel in dashboard["panels"] for t in panel.get("targets", [])
                    if t["datasource"]["type"] == "simpod-json-datasource" and "$study" not in t.get("target", "")]
    annotation_targets = [a["target"] for a in dashboard["annotations"]["list"]
                          if a["datasource"]["type"] == "simpod-json-datasource"]
    assert json_targets and annotation_targets
    run = grafana["run"]
    for run_value in (regex_format([run]), regex_format([run, "some-other-run"]), ".*"):  # one, several, All
        targets = [process_target(t, {"run": run_value}) for t in json_targets + annotation_targets]
        answer = grafana["http"].post(grafana["url"] + "/query", json=options(targets), timeout=10)
        assert answer.status_code == 200, answer.text
        frames = [to_data_frame(item) for item in answer.json()]
        assert {f["refId"] for f in frames if f["kind"] == "table"} == {"A", "Anno", "Events"}


def test_the_query_builder(grafana):
    # QueryBuilder.loadMetrics: listMetrics(the selected metric, the payload) — the whole dropdown.
    metric = "tolaria.validation.loss"
    answer = grafana["http"].post(grafana["url"] + "/metrics", json={"metric": regex_format(metric), "payload": {"run": grafana["run"]}},
                           timeout=5)
    items = answer.json()
    values = [item["value"] for item in items]
    assert metric in values and "tolaria.training.loss" in values and "nissa.alerts" in values
    for item in items:  # z.array(z.object({ name: z.string() }).passthrough())
        assert isinstance(item["value"], str) and all(isinstance(p["name"], str) for p in item["payloads"])
    payloads = next(item for item in items if item["value"] == metric)["payloads"]
    assert [p["name"] for p in payloads] == ["run", "seed", "stream", "subsystem"]
    # listMetricPayloadOptions(name, metric, payload)
    options_answer = grafana["http"].post(grafana["url"] + "/metric-payload-options",
                                   json={"metric": metric, "payload": {}, "name": "run"}, timeout=5).json()
    assert {"label": grafana["run"], "value": grafana["run"]} in options_answer
    # A builder query with the run chosen in a multi-select (an array payload) and the code
    # editor's JSON text payload.
    targets = [
        {"refId": "A", "datasource": {"type": "simpod-json-datasource"}, "editorMode": "builder",
         "target": metric, "payload": {"run": [regex_format(grafana["run"])]}},
        {"refId": "B", "editorMode": "code", "target": metric, "payload": json.dumps({"run": grafana["run"]})},
    ]
    frames = [to_data_frame(i) for i in grafana["http"].post(grafana["url"] + "/query", json=options(targets), timeout=5).json()]
    assert [f["refId"] for f in frames] == ["A", "B"]
    assert all(f["labels"]["run"] == grafana["run"] for f in frames)


def test_ad_hoc_filters(grafana):
    # getTagKeys / getTagValues with Grafana's options object.
    keys = grafana["http"].post(grafana["url"] + "/tag-keys", json={"filters": []}, timeout=5).json()
    assert {"type": "string", "text": "run"} in keys
    values = grafana["http"].post(grafana["url"] + "/tag-values", json={"key": "run", "filters": []}, timeout=5).json()
    assert {"text": grafana["run"]} in values
    target = [{"refId": "A", "target": "tolaria.validation.loss", "payload": ""}]

    def runs(filters, key="filters"):
        answer = grafana["http"].post(grafana["url"] + "/query", json=options(target, **{key: filters}), timeout=5)
        assert answer.status_code == 200, answer.text
        return {item["tags"]["run"] for item in answer.json()}
    assert runs([{"key": "run", "operator": "=", "value": grafana["run"]}]) == {grafana["run"]}
    # A prefix long enough to hold random bits: run ids are time-ordered (version 7), so runs
    # made in the same minute share their first eight digits.
    assert runs([{"key": "run", "operator": "=~", "value": grafana["run"][:24] + ".*"}]) == {grafana["run"]}
    assert grafana["run"] not in runs([{"key": "run", "operator": "!~", "value": ".*" + grafana["run"][-6:]}])
    assert runs([{"key": "run", "operator": "<", "value": grafana["run"]}]) | runs(
        [{"key": "run", "operator": ">", "value": grafana["run"]}]) == runs([]) - {grafana["run"]}
    # A filter of another datasource's key is ignored; old plugin versions send adhocFilters.
    assert runs([{"key": "region", "operator": "=", "value": "eu"}]) == runs([])
    assert runs([{"key": "run", "operator": "=", "value": grafana["run"]}], key="adhocFilters") == {grafana["run"]}


def test_simple_json_routes_of_older_plugin_versions(grafana):
    # 0.2.6 metricFindQuery: POST /search {type, target}; mapToTextValue reads strings.
    found = grafana["http"].post(grafana["url"] + "/search", json={"target": "runs"}, timeout=5).json()
    assert grafana["run"] in found and all(isinstance(v, str) for v in found)
    assert "tolaria.validation.loss" in grafana["http"].post(grafana["url"] + "/search", json={"target": ""}, timeout=5).json()
    # 0.2.6 annotationQuery: POST /annotations.
    body = options([])
    annotation = {"query": "nissa.events", "name": "Lifecycle", "datasource": "Esper", "enable": True, "iconColor": "blue"}
    answer = grafana["http"].post(grafana["url"] + "/annotations", json={
        "annotation": annotation, "range": body["range"], "rangeRaw": body["rangeRaw"], "variables": {}}, timeout=5)
    assert answer.status_code == 200, answer.text
    for event in answer.json():
        assert event["annotation"] == annotation and isinstance(event["time"], int)
        assert isinstance(event["title"], str) and isinstance(event["tags"], list)
    # 0.2.6 query: the payload was `data` (parsed JSON), filters `adhocFilters`.
    old = options([{"refId": "A", "target": "tolaria.validation.loss", "data": {"run": grafana["run"]}, "type": "timeseries"}],
                  adhocFilters=[])
    assert {item["tags"]["run"] for item in grafana["http"].post(grafana["url"] + "/query", json=old, timeout=5).json()} == {grafana["run"]}
