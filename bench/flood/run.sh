#!/usr/bin/env bash
# Connection-flood benchmark (issue 16): a real `esper serve`, 5,000 idle keep-alive
# connections from 20 loopback addresses (bench/flood/flood.py), /healthz probed from
# another address twice a second; every probe must be answered within 1 s. Run once with
# the defaults and once with ESPER_HTTP_RESERVED_CONNECTIONS=0 (the server before the
# reserve) to see the difference.
#   bench/flood/run.sh      (ESPER_BIN=.build/debug/esper to skip the release build;
#                            CONNECTIONS, ADDRESSES, DURATION (s); extra server settings in the env)
set -euo pipefail
cd "$(dirname "$0")/../.."
PORT=${ESPER_BENCH_PORT:-18192}
if [ -z "${ESPER_BIN:-}" ]; then
  swift build -c release --product esper >/dev/null
  ESPER_BIN=.build/release/esper
fi
ulimit -n 20000 2>/dev/null || true
work=$(mktemp -d)
cleanup() {
  [ -n "${esper_pid:-}" ] && kill "$esper_pid" 2>/dev/null && wait "$esper_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ESPER_ACCESS_LOG=off ESPER_FORGE_AT_START=off ESPER_LOG_LEVEL=error \
  "$ESPER_BIN" serve --port "$PORT" --data-dir "$work/var" 2>"$work/esper.log" &
esper_pid=$!
for _ in $(seq 300); do curl -fs "localhost:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
python3 bench/flood/flood.py --port "$PORT" --connections "${CONNECTIONS:-5000}" --addresses "${ADDRESSES:-20}" \
  --seconds "${DURATION:-45}"
