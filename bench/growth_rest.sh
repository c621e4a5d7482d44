#!/bin/bash
# bench/growth_rest.sh — the digits growth runs of docs/performance.md through the REST API of a
# release server (swift build -c release --product esper): three runs, their final validation
# accuracy, slot width and seeds. Usage: bench/growth_rest.sh (PORT to change the port).
set -u
PORT=${PORT:-18431}
DATA=$(mktemp -d /tmp/esper-growth-XXXX)
cd "$(dirname "$0")/.."
ESPER_PORT=$PORT ESPER_DATA_DIR=$DATA ESPER_FORGE_AT_START=off .build/release/esper serve > $DATA/server.log 2>&1 &
SERVER=$!
echo "server pid $SERVER data $DATA"
for i in $(seq 1 60); do curl -sf localhost:$PORT/api/v1/health >/dev/null 2>&1 && break; sleep 1; done
IDS=""
for SEED in 1 2 3; do
  BODY='{"dataset": {"kind": "digits"}, "model": {"hidden_sizes": [4]}, "epochs": 200, "batch_size": 32,
    "learning_rate": 0.003, "seed": '$SEED', "label_smoothing": 0.1, "input_noise": 0.1, "learning_rate_decay_epochs": 50,
    "checkpoint_interval": 50, "policy": "heuristic",
    "seeds": {"blueprints": ["widen-8", "widen-4"], "max_germinations": 12, "plateau_epochs": 3, "embargo_epochs": 2,
              "warmup_epochs": 10, "graft_steps": 45, "parameter_budget": 2409}}'
  ID=$(curl -s -X POST localhost:$PORT/api/v1/runs -H 'Content-Type: application/json' -d "$BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  IDS="$IDS $ID"
done
for ID in $IDS; do
  for i in $(seq 1 600); do
    S=$(curl -s localhost:$PORT/api/v1/runs/$ID | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    [ "$S" = succeeded ] || [ "$S" = failed ] && break; sleep 1
  done
  curl -s localhost:$PORT/api/v1/runs/$ID > $DATA/run-$ID.json
  curl -s localhost:$PORT/api/v1/runs/$ID/seeds > $DATA/seeds-$ID.json
  python3 - $DATA/run-$ID.json $DATA/seeds-$ID.json <<'PY'
import json,sys
run=json.load(open(sys.argv[1])); seeds=json.load(open(sys.argv[2]))
m=run.get("latest_metrics") or {}
print(run["id"], run["status"], "seed", run["config"]["seed"], "epochs", run.get("epoch"),
      "final_val_acc %.4f" % m.get("validation_accuracy", 0), "hidden", [s["width"] for s in m.get("slots", [])])
print("  seeds", [(s["seed_id"], s["blueprint_id"], s["stage"], s["parameters"]) for s in seeds["items"]])
PY
done
kill $SERVER; wait $SERVER 2>/dev/null
rm -rf "$DATA"
