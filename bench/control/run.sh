#!/usr/bin/env bash
# The control plane under realistic state (issue 20, item 3): RUNS finished runs of EPOCHS
# epochs each in the registry, wrk against a release build of `esper serve` and, interleaved
# in the same run, against MLflow's tracking server (SQLite backend, same runs, the four
# per-epoch metrics as metric histories) for the equivalent calls.
#   bench/control/run.sh     RUNS=10000 EPOCHS=100 ROUNDS=3 DURATION=5s THREADS=2 CONNECTIONS=32
#   MLFLOW=0 skips MLflow (esper only). ESPER_BIN=<path> serves with that binary instead of
#   building this tree (A/B: the same BENCH_WORK with a base build and yours, alternated).
# Prints one line per (call, round) and a table of medians (req/s, p50, p99, the server's CPU
# and bytes written to storage per request, its Redis or workers included) with the ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-10000}
EPOCHS=${EPOCHS:-100}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
MLFLOW=${MLFLOW:-1}
EPORT=${ESPER_BENCH_PORT:-18191}
MPORT=${MLFLOW_BENCH_PORT:-18192}
here=bench/control

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
if [ "$MLFLOW" = 1 ] && ! python3 -c 'import mlflow' 2>/dev/null; then pip install -q mlflow; fi
ESPER_BIN=${ESPER_BIN:-}
if [ -z "$ESPER_BIN" ]; then
  swift build -c release --product esper >/dev/null
  ESPER_BIN=.build/release/esper
fi

work=${BENCH_WORK:-$(mktemp -d)}
mkdir -p "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  [ -n "${BENCH_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

serve() {  # starts esper serve on $work/var; sets esper_pid
  # A server already answering on the port would be measured instead of ours (and our own
  # would fail to bind): refuse.
  if curl -s -o /dev/null "localhost:$EPORT/" 2>/dev/null; then
    echo "something already answers on port $EPORT; stop it or set ESPER_BENCH_PORT" >&2
    exit 1
  fi
  ESPER_HTTP_THREADS=$THREADS ESPER_FORGE_AT_START=off ESPER_LOCAL_WORKERS=${1:-off} \
    "$ESPER_BIN" serve --port "$EPORT" --data-dir "$work/var" >>"$work/esper.log" 2>&1 &
  esper_pid=$!
  pids+=("$esper_pid")
  for _ in $(seq 300); do curl -fs "localhost:$EPORT/healthz" >/dev/null 2>&1 && return; sleep 0.2; done
  echo "esper did not start; see $work/esper.log" >&2; tail -20 "$work/esper.log" >&2; exit 1
}
stop_esper() { kill "$esper_pid"; wait "$esper_pid" 2>/dev/null || true; }

# 1. One real run, trained by the server, is the template of every cloned run.
if [ ! -f "$work/ids.txt" ]; then
  serve on
  run=$(curl -fs -X POST "localhost:$EPORT/api/v1/runs" -H 'Content-Type: application/json' \
    -d '{"dataset": {"kind": "digits"}, "model": {"hidden_sizes": [32]}, "epochs": 3, "learning_rate": 0.01}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  for _ in $(seq 600); do
    status=$(curl -fs "localhost:$EPORT/api/v1/runs/$run" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    [ "$status" = succeeded ] && break
    [ "$status" = failed ] && { echo "template run failed" >&2; exit 1; }
    sleep 0.5
  done
  stop_esper
  python3 $here/populate.py esper "$work/var/tolaria/runs.db" "$RUNS" "$EPOCHS" >"$work/ids.tmp"
  mv "$work/ids.tmp" "$work/ids.txt"
fi
# MLflow's store on its own (it needs nothing of esper's): kept between runs like esper's.
if [ "$MLFLOW" = 1 ] && [ ! -f "$work/mlflow_ids.txt" ]; then
  rm -f "$work/mlflow.db"
  python3 $here/populate.py mlflow "sqlite:///$work/mlflow.db" "$RUNS" "$EPOCHS" >"$work/mlflow_ids.tmp" 2>"$work/mlflow_populate.log"
  mv "$work/mlflow_ids.tmp" "$work/mlflow_ids.txt"
fi
serve off
if [ "$MLFLOW" = 1 ]; then
  (cd "$work" && exec mlflow server --backend-store-uri "sqlite:///$work/mlflow.db" --host 127.0.0.1 --port "$MPORT" \
    --workers 2 >"$work/mlflow.log" 2>&1) &
  mlflow_pid=$!
  pids+=("$mlflow_pid")
  for _ in $(seq 300); do curl -fs "localhost:$MPORT/health" >/dev/null 2>&1 && break; sleep 0.5; done
  experiment=$(curl -fs "localhost:$MPORT/api/2.0/mlflow/experiments/get-by-name?experiment_name=bench" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["experiment"]["experiment_id"])')
fi

# Cursors of later list pages (page 2 … 20), walked once with curl.
python3 - "$EPORT" >"$work/cursors.txt" <<'PY'
import json, sys, urllib.request
cursor, out = None, []
for _ in range(20):
    url = "http://127.0.0.1:%s/api/v1/runs?limit=50" % sys.argv[1] + ("&cursor=" + cursor if cursor else "")
    cursor = json.load(urllib.request.urlopen(url))["next_cursor"]
    if not cursor: break
    out.append(cursor)
print("\n".join(out))
PY

lua_list() {  # $1: name, $2: file of values, $3: request template with %s
  {
    echo "local values = {"
    sed 's/.*/"&",/' "$2"
    echo "}"
    cat <<LUA
math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
request = function()
  local v = values[math.random(#values)]
  $3
end
LUA
  } >"$work/$1.lua"
}
lua_list get "$work/ids.txt" 'return wrk.format("GET", "/api/v1/runs/" .. v)'
lua_list history "$work/ids.txt" 'return wrk.format("GET", "/api/v1/runs/" .. v .. "/metrics")'
# What a client polling a run asks: the epochs from 90 on, and one figure of every epoch.
lua_list history_since "$work/ids.txt" 'return wrk.format("GET", "/api/v1/runs/" .. v .. "/metrics?since=90")'
lua_list history_fields "$work/ids.txt" 'return wrk.format("GET", "/api/v1/runs/" .. v .. "/metrics?fields=validation_loss")'
# What a dashboard polls: the whole histories of the twenty runs it shows.
head -20 "$work/ids.txt" >"$work/hot_ids.txt"
lua_list history_hot "$work/hot_ids.txt" 'return wrk.format("GET", "/api/v1/runs/" .. v .. "/metrics")'
lua_list pages "$work/cursors.txt" 'return wrk.format("GET", "/api/v1/runs?limit=50&cursor=" .. v)'
cat >"$work/create.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"dataset": {"kind": "digits"}, "model": {"hidden_sizes": [32]}, "epochs": 3, "learning_rate": 0.01}'
wrk.headers["Content-Type"] = "application/json"
LUA
if [ "$MLFLOW" = 1 ]; then
  lua_list m_get "$work/mlflow_ids.txt" 'return wrk.format("GET", "/api/2.0/mlflow/runs/get?run_id=" .. v)'
  lua_list m_history "$work/mlflow_ids.txt" 'return wrk.format("GET", "/api/2.0/mlflow/metrics/get-history?metric_key=validation_loss&max_results=1000&run_id=" .. v)'
  cat >"$work/m_search.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"experiment_ids": ["$experiment"], "max_results": 50}'
wrk.headers["Content-Type"] = "application/json"
LUA
  cat >"$work/m_create.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"experiment_id": "$experiment", "run_name": "bench"}'
wrk.headers["Content-Type"] = "application/json"
LUA
fi

family() {  # a process and its descendants (MLflow's workers, esper's Redis), comma-separated
  local all=$1 level=$1
  for _ in 1 2 3 4; do
    level=$(pgrep -d, -P "$level" 2>/dev/null) || break
    all="$all,$level"
  done
  echo "$all"
}

cpu_ticks() {  # user + system clock ticks of a process and its descendants
  local total=0 pid
  for pid in $(family "$1" | tr , ' '); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

written_bytes() {  # bytes a process and its descendants sent to storage (/proc/PID/io write_bytes)
  local total=0 pid
  for pid in $(family "$1" | tr , ' '); do
    total=$((total + $(awk '/^write_bytes/ {print $2}' "/proc/$pid/io" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

run() {  # name url [lua] -> appends "name rps p50 p99 non2xx cpu_us_per_request disk_bytes_per_request" to results
  local name=$1 url=$2 script=${3:-} pid=$esper_pid
  [ "${name#m_}" != "$name" ] && pid=$mlflow_pid
  local before after written_before written_after
  before=$(cpu_ticks $pid)
  written_before=$(written_bytes $pid)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency ${script:+-s "$work/$script.lua"} "$url" >"$work/wrk.txt" 2>&1 || true
  after=$(cpu_ticks $pid)
  written_after=$(written_bytes $pid)
  local rps p50 p99 bad total cpu disk
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/wrk.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/wrk.txt")
  bad=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
  total=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
  # CPU time the server spent per request (µs): what the load of other processes does not change.
  cpu=$(awk -v t=$((after - before)) -v n="${total:-0}" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", (n > 0 ? t * 1e6 / hz / n : 0) }')
  # Bytes written to storage per request (write-ahead logs, checkpoints, append-only files).
  disk=$(awk -v b=$((written_after - written_before)) -v n="${total:-0}" 'BEGIN { printf "%.0f", (n > 0 ? b / n : 0) }')
  echo "$name ${rps:-0} ${p50:--} ${p99:--} ${bad:-0} $cpu $disk" | tee -a "$work/results.txt"
}

E="http://127.0.0.1:$EPORT"
M="http://127.0.0.1:$MPORT"
: >"$work/results.txt"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
  echo "# round $round, load $(cut -d' ' -f1-3 /proc/loadavg)"
  run get "$E/" get
  [ "$MLFLOW" = 1 ] && run m_get "$M/" m_get
  run list "$E/api/v1/runs?limit=50"
  [ "$MLFLOW" = 1 ] && run m_search "$M/api/2.0/mlflow/runs/search" m_search
  run list_pages "$E/" pages
  run list_filtered "$E/api/v1/runs?limit=50&status=succeeded"
  run history "$E/" history
  [ "$MLFLOW" = 1 ] && run m_history "$M/" m_history
  run history_hot "$E/" history_hot
  run history_since "$E/" history_since
  run history_fields "$E/" history_fields
  run create "$E/api/v1/runs" create
  [ "$MLFLOW" = 1 ] && run m_create "$M/api/2.0/mlflow/runs/create" m_create
  run scrape "$E/metrics"
  run health "$E/healthz"
  [ "$MLFLOW" = 1 ] && run m_health "$M/health"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work/results.txt" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, rps, p50, p99, bad, cpu, disk = line.split()
    rows.setdefault(name, []).append((float(rps), p50, p99, int(bad), int(cpu), int(disk)))
def med(name):
    r = rows.get(name)
    if not r: return None
    values = sorted(x[0] for x in r)
    middle = sorted(r, key=lambda x: x[0])[len(r) // 2]
    return (statistics.median(values), values[0], values[-1], middle[1], middle[2], sum(x[3] for x in r),
            statistics.median(x[4] for x in r), statistics.median(x[5] for x in r))
pairs = [("get", "m_get"), ("list", "m_search"), ("list_pages", "m_search"), ("list_filtered", "m_search"),
         ("history", "m_history"), ("history_hot", "m_history"), ("history_since", "m_history"), ("history_fields", "m_history"), ("create", "m_create"), ("scrape", None), ("health", "m_health")]
print("%-14s %9s %17s %9s %9s %6s %9s %9s %9s %10s %8s %9s %11s" % (
    "call", "req/s", "(min-max)", "p50", "p99", "non2xx", "cpu us/r", "disk B/r", "mlflow", "mlflow p99", "ratio", "cpu ratio",
    "mlflow disk"))
for e, m in pairs:
    a = med(e)
    if not a: continue
    b = med(m) if m else None
    ratio = "%.0f x" % (a[0] / b[0]) if b and b[0] > 0 else "-"
    cpu_ratio = "%.0f x" % (b[6] / a[6]) if b and a[6] > 0 else "-"
    print("%-14s %9.0f %17s %9s %9s %6d %9d %9d %9s %10s %8s %9s %11s" % (
        e, a[0], "(%.0f-%.0f)" % (a[1], a[2]), a[3], a[4], a[5], a[6], a[7], "%.0f" % b[0] if b else "-",
        b[4] if b else "-", ratio, cpu_ratio, "%d" % b[7] if b else "-"))
PY
