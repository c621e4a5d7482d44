#!/bin/sh
# Bus benchmarks: Leyline encode/decode, the client-side cost of one publish, publish
# throughput against redis-benchmark doing raw XADD on the same server with the same
# pipelining, and publish→consume latency, on the managed unix socket and on TCP loopback.
# Usage: bench/oona/run.sh [leyline|prepare|throughput|latency|all] [--tcp] [--pipeline N] [--clients N] [--rounds N] [--pin]
set -eu
cd "$(dirname "$0")/../.."
swift build -c release --product esper-bench-oona >/dev/null
[ $# -gt 0 ] || set -- all
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), redis $(redis-server --version | cut -d' ' -f3 | cut -d= -f2), swift build -c release"
echo "# .build/release/esper-bench-oona $*"
exec .build/release/esper-bench-oona "$@"
