#!/usr/bin/env python3
"""Fills the stores for the control-plane benchmark (bench/control/run.sh).

esper DB RUNS EPOCHS   — clones the one finished run in DB (`<data>/tolaria/runs.db`, trained
                         for real by run.sh) into RUNS finished runs of EPOCHS epochs each
                         (ids, names, timestamps and figures vary per run and epoch; the JSON
                         shapes are the ones the server wrote).
mlflow URI RUNS EPOCHS — logs one run through MLflow's own client (params = the run config's
                         fields, four metrics per epoch: train/validation loss and accuracy)
                         and clones it in MLflow's SQLite tables into RUNS runs.
Prints the run ids, one a line, to stdout (the wrk scripts pick from them).
"""
import json
import random
import sqlite3
import sys
import time
import uuid


def esper(path, runs, epochs):
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    template = db.execute("SELECT * FROM runs WHERE status = 'succeeded' ORDER BY seq LIMIT 1").fetchone()
    if template is None:
        sys.exit("no finished run to clone in " + path)
    first_epoch = db.execute(
        "SELECT summary FROM run_epochs WHERE run_id = ? ORDER BY epoch LIMIT 1", (template["id"],)).fetchone()["summary"]
    events = [r["event"] for r in db.execute("SELECT event FROM run_events WHERE run_id = ? ORDER BY seq", (template["id"],))]
    summary = json.loads(first_epoch)
    config = json.loads(template["config"])
    config["epochs"] = epochs
    columns = [c for c in template.keys() if c not in ("seq",)]
    db.execute("DELETE FROM runs")
    db.execute("DELETE FROM run_epochs")
    db.execute("DELETE FROM run_events")
    rng = random.Random(7)
    ids = []
    start = time.time_ns() - runs * 60 * 1_000_000_000
    for n in range(runs):
        run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        ids.append(run_id)
        created = start + n * 60 * 1_000_000_000
        config["name"] = "bench-%05d" % n
        config["learning_rate"] = round(0.001 + 0.0001 * (n % 50), 6)
        rows = []
        latest = None
        for epoch in range(epochs):
            s = dict(summary)
            s["run_id"] = run_id
            s["experiment_name"] = config["name"]
            s["epoch"] = epoch
            s["epochs"] = epochs
            s["global_step"] = (epoch + 1) * 12
            s["train_loss"] = 2.3 / (1 + epoch) + rng.random() * 0.01
            s["validation_loss"] = 2.3 / (1 + 0.8 * epoch) + rng.random() * 0.01
            s["train_accuracy"] = min(1.0, 0.1 + epoch / epochs) - rng.random() * 0.01
            s["validation_accuracy"] = min(1.0, 0.1 + 0.9 * epoch / epochs) - rng.random() * 0.01
            s["timestamp_ns"] = created + (epoch + 1) * 500_000_000
            latest = json.dumps(s, separators=(",", ":"), sort_keys=True)
            rows.append((run_id, epoch, latest))
        db.executemany("INSERT INTO run_epochs (run_id, epoch, summary) VALUES (?, ?, ?)", rows)
        for event in events:
            e = json.loads(event)
            e["run_id"] = run_id
            text = json.dumps(e, separators=(",", ":"), sort_keys=True)
            db.execute("INSERT INTO run_events (run_id, event, event_key) VALUES (?, ?, ?)", (run_id, text, uuid.uuid4().hex))
        values = dict(template)
        values.update(
            id=run_id, name=config["name"], status="succeeded", config=json.dumps(config, separators=(",", ":"), sort_keys=True),
            idempotency_key=None, epoch=epochs, epochs=epochs, global_step=epochs * 12, latest=latest,
            created_ns=created, started_ns=created + 1_000_000, finished_ns=created + epochs * 500_000_000)
        db.execute(
            "INSERT INTO runs (%s) VALUES (%s)" % (",".join(columns), ",".join("?" * len(columns))),
            [values[c] for c in columns])
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return ids


METRICS = ("train_loss", "train_accuracy", "validation_loss", "validation_accuracy")


def mlflow_store(uri, runs, epochs):
    import mlflow
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("bench")
    run = client.create_run(experiment, run_name="bench-00000")
    template = run.info.run_id
    now = int(time.time() * 1000)
    params = [Param(k, str(v)) for k, v in {
        "dataset": "digits", "hidden_sizes": "[64]", "epochs": epochs, "learning_rate": 0.01, "batch_size": 128,
        "policy": "heuristic", "optimizer": "sgd", "momentum": 0.9, "weight_decay": 0, "seed": 1}.items()]
    metrics = [Metric(key, 1.0 / (1 + step), now + step, step) for step in range(epochs) for key in METRICS]
    for i in range(0, len(metrics), 1000):
        client.log_batch(template, metrics=metrics[i:i + 1000], params=params if i == 0 else [])
    client.set_terminated(template)
    path = uri[len("sqlite:///"):]
    db = sqlite3.connect(path)
    tables = {
        t: [c[1] for c in db.execute("PRAGMA table_info(%s)" % t)]
        for t in ("runs", "metrics", "latest_metrics", "params", "tags")}
    ids = [template]
    for n in range(1, runs):
        run_id = uuid.uuid4().hex
        ids.append(run_id)
        for table, columns in tables.items():
            picked = ",".join(
                "?" if c == "run_uuid" else ("?" if c == "name" and table == "runs" else
                ("value + ?" if c == "value" and table in ("metrics", "latest_metrics") else c))
                for c in columns)
            args = []
            for c in columns:
                if c == "run_uuid":
                    args.append(run_id)
                elif c == "name" and table == "runs":
                    args.append("bench-%05d" % n)
                elif c == "value" and table in ("metrics", "latest_metrics"):
                    args.append(n * 1e-6)
            db.execute(
                "INSERT INTO %s (%s) SELECT %s FROM %s WHERE run_uuid = ?" % (table, ",".join(columns), picked, table),
                args + [template])
        if n % 1000 == 0:
            db.commit()
    db.execute("UPDATE runs SET artifact_uri = artifact_uri")
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return ids


if __name__ == "__main__":
    kind, target, runs, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ids = esper(target, runs, epochs) if kind == "esper" else mlflow_store(target, runs, epochs)
    print("\n".join(ids))
