#!/usr/bin/env bash
# HTTP benchmark: wrk against `GET /healthz` of a release build of esper (full stack:
# routing, request id, metrics, access log written to a file) and against nginx answering a
# same-size JSON body with `return 200`, same settings, alternated in one run.
#   bench/http.sh            (DURATION=10s THREADS=2 CONNECTIONS=32 ROUNDS=3 by default)
#   ESPER_BINARY=path bench/http.sh   (an esper built elsewhere; no build)
# The esper process inherits the environment (e.g. ESPER_HTTP_CONNECTION_MEMORY_BYTES).
#
# A fair fight: both servers on loopback with THREADS workers (esper's libmicrohttpd pool
# threads, nginx's worker processes), both keeping every connection alive for the whole run
# (nginx closes one after `keepalive_requests`, 1,000 by default, so it is raised), neither
# logging every request (nginx `access_log off`; esper samples probes, 1 % by default).
# esper is measured once its start-up work is over (the forge compiling the blueprints of
# a fresh data directory), after a warm-up run of each server.
#
# Prints per round req/s, p50 and p99 of both, the ratios the goal is stated in (issue 20:
# req/s ≥ 0.9 × nginx, p50 ≤ 2 × nginx, p99 ≤ nginx), and each server's CPU time per
# request (user + system of all its threads or worker processes over the run, from /proc):
# that figure barely depends on the machine's load; the wall-clock ones only mean something
# on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-3}
ESPER_BENCH_PORT=${ESPER_BENCH_PORT:-18181}
NGINX_BENCH_PORT=${NGINX_BENCH_PORT:-18182}

load_before=$(cut -d' ' -f1 /proc/loadavg)  # before anything of ours runs
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
# The forge of a fresh data directory compiles in the background for a while; wait (up to
# 10 minutes) until it is idle with nothing pending, so its compiles do not share the CPU.
for _ in $(seq 600); do
  curl -s "localhost:$ESPER_BENCH_PORT/healthz" | grep -q 'forge idle' && break
  sleep 1
done
body=$(curl -s "localhost:$ESPER_BENCH_PORT/healthz")

mkdir -p "$work/nginx/logs"
escaped=${body//\'/\\\'}
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes $THREADS;
pid $work/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  server {
    listen 127.0.0.1:$NGINX_BENCH_PORT;
    location /healthz { default_type application/json; return 200 '$escaped'; }
  }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf"
sleep 0.3
nginx_workers=$(ps --ppid "$(cat "$work/nginx.pid")" -o pid= | tr '\n' ' ')

cpu_ticks() {  # user + system clock ticks of the given processes (all their threads)
  local total=0 pid
  for pid in "$@"; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}

run() {  # URL PIDS... → prints: requests/s p50 p99 requests cpu-µs-per-request
  local url=$1
  shift
  local before after
  before=$(cpu_ticks "$@")
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" >"$work/wrk.txt"
  after=$(cpu_ticks "$@")
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = $2 }
    $1 == "99%" { p99 = $2 }
    / requests in / { n = $1 }
    END { printf "%s %s %s %s %.1f\n", rps, p50, p99, n, ticks / hz * 1e6 / n }' "$work/wrk.txt"
}

esper_url="http://127.0.0.1:$ESPER_BENCH_PORT/healthz"
nginx_url="http://127.0.0.1:$NGINX_BENCH_PORT/healthz"
DURATION=2s run "$esper_url" "$esper_pid" >/dev/null
# shellcheck disable=SC2086
DURATION=2s run "$nginx_url" $nginx_workers >/dev/null

printf '%s, load %s before the run, %s at start of the runs; %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc) CPUs"
printf 'body %d bytes; wrk -t%s -c%s -d%s; %s esper pool threads, %s nginx workers; ESPER_HTTP_CONNECTION_MEMORY_BYTES=%s\n' \
  "${#body}" "$THREADS" "$CONNECTIONS" "$DURATION" "$THREADS" "$THREADS" "${ESPER_HTTP_CONNECTION_MEMORY_BYTES:-default}"
printf '%-5s %-6s %11s %9s %9s %9s\n' round server req/s p50 p99 'CPU µs/req'
for round in $(seq "$ROUNDS"); do
  read -r e_rps e_p50 e_p99 _ e_cpu < <(run "$esper_url" "$esper_pid")
  # shellcheck disable=SC2086
  read -r n_rps n_p50 n_p99 _ n_cpu < <(run "$nginx_url" $nginx_workers)
  printf '%-5s %-6s %11s %9s %9s %9s\n' "$round" esper "$e_rps" "$e_p50" "$e_p99" "$e_cpu"
  printf '%-5s %-6s %11s %9s %9s %9s\n' "$round" nginx "$n_rps" "$n_p50" "$n_p99" "$n_cpu"
  awk -v er="$e_rps" -v nr="$n_rps" -v e50="$e_p50" -v n50="$n_p50" -v e99="$e_p99" -v n99="$n_p99" -v ec="$e_cpu" -v nc="$n_cpu" '
    function us(t) {  # wrk prints 512.00us, 1.23ms, 2.00s
      if (t ~ /us$/) return t + 0
      if (t ~ /ms$/) return (t + 0) * 1000
      if (t ~ /s$/) return (t + 0) * 1e6
      return t + 0
    }
    BEGIN {
      r = er / nr; p50 = us(e50) / us(n50); p99 = us(e99) / us(n99)
      printf "      esper/nginx: req/s %.2f (goal >= 0.9 %s), p50 %.2f (<= 2 %s), p99 %.2f (<= 1 %s), CPU/req %.2f\n",
        r, (r >= 0.9 ? "met" : "NOT met"), p50, (p50 <= 2 ? "met" : "NOT met"), p99, (p99 <= 1 ? "met" : "NOT met"), ec / nc
    }'
done
printf 'load %s at end\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
awk -v load="$load_before" -v cpus="$(nproc)" 'BEGIN { if (load > cpus / 2) printf "load %s on %d CPUs before the run: the req/s and latency ratios above are not evidence (the servers got unequal shares of the machine); CPU µs/req is\n", load, cpus }'
