#!/usr/bin/env bash
# SSE fan-out benchmark: epoch time of one long training run while CLIENTS Server-Sent
# Events clients (bench/sse/sse_clients.c, epoll) stream every event from /api/v1/events,
# against the same run with no clients. The clients are switched on and off every PHASE
# epochs within the one run, so both conditions see the same machine load (this machine is
# shared: measuring the two in separate runs minutes apart compares the load, not SSE).
# Prints the median epoch time of each condition, the ratio per on/off pair and its median,
# and checks every client received the same number of epoch events in each loaded phase.
#   bench/sse/run.sh        (CLIENTS=200 PAIRS=8 PHASE=10 by default; builds release)
set -euo pipefail
cd "$(dirname "$0")/../.."

CLIENTS=${CLIENTS:-200}
PAIRS=${PAIRS:-8}
PHASE=${PHASE:-10}
PORT=${ESPER_BENCH_PORT:-18191}
EPOCHS=$(((PAIRS * 2 + 2) * PHASE * 3))  # plenty: the run is stopped when the pairs are done
RUN_CONFIG=${RUN_CONFIG:-"{\"dataset\": {\"kind\": \"digits\"}, \"model\": {\"hidden_sizes\": [512, 512]}, \"epochs\": $EPOCHS, \"learning_rate\": 0.0005, \"seed\": 7}"}

swift build -c release --product esper >/dev/null
work=$(mktemp -d)
cleanup() {
  [ -n "${clients_pid:-}" ] && kill "$clients_pid" 2>/dev/null || true
  [ -n "${esper_pid:-}" ] && kill "$esper_pid" 2>/dev/null && wait "$esper_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cc -O2 -std=c11 -Wall -o "$work/sse_clients" bench/sse/sse_clients.c

ESPER_ACCESS_LOG=off ESPER_FORGE_AT_START=off ESPER_MAX_CONCURRENT_RUNS=1 ESPER_SSE_MAX_SUBSCRIBERS=$((CLIENTS + 16)) \
  ESPER_HTTP_MAX_CONNECTIONS_PER_IP=$((CLIENTS + 64)) \
  .build/release/esper serve --port "$PORT" --data-dir "$work/var" 2>"$work/esper.log" &
esper_pid=$!
for _ in $(seq 100); do curl -fs "localhost:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

id=$(curl -fs -X POST "localhost:$PORT/api/v1/runs" -H 'Content-Type: application/json' -d "$RUN_CONFIG" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
epoch() {  # epochs finished so far; fails when the run is no longer running
  curl -fs "localhost:$PORT/api/v1/runs/$id" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["epoch"]); sys.exit(r["status"] != "running")'
}
wait_epochs() {  # until the run has finished $1 more epochs than now; prints the start epoch
  local start now
  start=$(epoch)
  now=$start
  while [ "$now" -lt $((start + $1)) ]; do sleep 0.05; now=$(epoch); done
  echo "$start $now"
}

wait_epochs 10 >/dev/null  # warm-up
: >"$work/phases.txt"
: >"$work/clients.txt"
for pair in $(seq "$PAIRS"); do
  echo "quiet $(wait_epochs "$PHASE")" >>"$work/phases.txt"
  "$work/sse_clients" 127.0.0.1 "$PORT" "/api/v1/events?types=epoch,run" "$CLIENTS" >"$work/clients-$pair.txt" &
  clients_pid=$!
  for _ in $(seq 400); do grep -q ready "$work/clients-$pair.txt" && break; sleep 0.05; done
  echo "loaded $(wait_epochs "$PHASE")" >>"$work/phases.txt"
  kill -TERM "$clients_pid"
  wait "$clients_pid" || true
  clients_pid=
  tail -1 "$work/clients-$pair.txt" >>"$work/clients.txt"
done
curl -fs -X POST "localhost:$PORT/api/v1/runs/$id/stop" >/dev/null
curl -fs "localhost:$PORT/api/v1/runs/$id/metrics" >"$work/metrics.json"

python3 - "$work/metrics.json" "$work/phases.txt" "$work/clients.txt" "$CLIENTS" <<'PY'
import json, statistics, sys
epochs = {e["epoch"]: e["epoch_ms"] for e in json.load(open(sys.argv[1]))["epochs"]}
phases = [line.split() for line in open(sys.argv[2])]
clients = [line.strip() for line in open(sys.argv[3])]
def times(start, end):
    # Epochs that ran entirely inside the phase (the registry's epoch is the count finished).
    return [epochs[e] for e in range(int(start) + 1, int(end) - 1) if e in epochs]
quiet_all, loaded_all, ratios = [], [], []
print(f"{'pair':<5} {'no clients ms':>14} {sys.argv[4] + ' clients ms':>16} {'ratio':>7}  clients (epoch events min/max)")
for index in range(0, len(phases) - 1, 2):
    quiet, loaded = times(*phases[index][1:]), times(*phases[index + 1][1:])
    if not quiet or not loaded:
        continue
    q, l = statistics.median(quiet), statistics.median(loaded)
    quiet_all += quiet
    loaded_all += loaded
    ratios.append(l / q)
    summary = clients[index // 2] if index // 2 < len(clients) else ""
    fields = dict(part.split("=") for part in summary.split() if "=" in part)
    print(f"{index // 2 + 1:<5} {q:>14.2f} {l:>16.2f} {l / q:>7.3f}  connected {fields.get('connected')}, "
          f"{fields.get('epoch_events_min')}/{fields.get('epoch_events_max')}")
print(f"all   {statistics.median(quiet_all):>14.2f} {statistics.median(loaded_all):>16.2f} "
      f"{statistics.median(loaded_all) / statistics.median(quiet_all):>7.3f}")
print(f"median of pair ratios {statistics.median(ratios):.3f} (goal <= 1.05)")
PY
echo "slow clients dropped: $(grep -c 'dropped a slow SSE client' "$work/esper.log" || true)"
