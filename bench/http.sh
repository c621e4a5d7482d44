#!/usr/bin/env bash
# HTTP benchmark: wrk against `GET /healthz` of a release build of esper (full stack:
# routing, request id, metrics, access log written to a file) and against nginx answering a
# same-size JSON body with `return 200`, same settings, in one run. Prints both and the ratio.
#   bench/http.sh            (DURATION=10s THREADS=2 CONNECTIONS=32 by default)
#   ESPER_BINARY=path bench/http.sh   (an esper built elsewhere; no build)
# The esper process inherits the environment (e.g. ESPER_HTTP_CONNECTION_MEMORY_BYTES).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
ESPER_BENCH_PORT=${ESPER_BENCH_PORT:-18181}
NGINX_BENCH_PORT=${NGINX_BENCH_PORT:-18182}

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ -z "${ESPER_BINARY:-}" ]; then
  swift build -c release --product esper >/dev/null
  ESPER_BINARY=.build/release/esper
fi
work=$(mktemp -d)
cleanup() {
  [ -n "${esper_pid:-}" ] && kill "$esper_pid" 2>/dev/null && wait "$esper_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ESPER_HTTP_THREADS=$THREADS "$ESPER_BINARY" serve --port "$ESPER_BENCH_PORT" --data-dir "$work/var" 2>"$work/esper.log" &
esper_pid=$!
for _ in $(seq 100); do curl -fs "localhost:$ESPER_BENCH_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
body=$(curl -fs "localhost:$ESPER_BENCH_PORT/healthz")

mkdir -p "$work/nginx/logs"
escaped=${body//\'/\\\'}
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes $THREADS;
pid $work/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NGINX_BENCH_PORT;
    location /healthz { default_type application/json; return 200 '$escaped'; }
  }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf"
sleep 0.3

run() {  # prints: requests/s p50 p99
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$1" >"$work/wrk.txt"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/wrk.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/wrk.txt")
  echo "$rps $p50 $p99"
}

read -r e_rps e_p50 e_p99 < <(run "http://127.0.0.1:$ESPER_BENCH_PORT/healthz")
read -r n_rps n_p50 n_p99 < <(run "http://127.0.0.1:$NGINX_BENCH_PORT/healthz")
printf '%s, load %s; ESPER_HTTP_CONNECTION_MEMORY_BYTES=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(cut -d' ' -f1-3 /proc/loadavg)" "${ESPER_HTTP_CONNECTION_MEMORY_BYTES:-default}"
printf 'body %d bytes; wrk -t%s -c%s -d%s\n' "${#body}" "$THREADS" "$CONNECTIONS" "$DURATION"
printf '%-8s %12s %10s %10s\n' server req/s p50 p99
printf '%-8s %12s %10s %10s\n' esper "$e_rps" "$e_p50" "$e_p99"
printf '%-8s %12s %10s %10s\n' nginx "$n_rps" "$n_p50" "$n_p99"
awk -v e="$e_rps" -v n="$n_rps" 'BEGIN { printf "ratio esper/nginx: %.2f\n", e / n }'
