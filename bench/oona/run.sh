#!/bin/sh
# Bus benchmarks: Leyline encode/decode, publish throughput against redis-benchmark doing raw
# XADD on the same server with the same pipelining, and publish→consume latency, on the
# managed unix socket and on TCP loopback. Usage: bench/oona/run.sh [leyline|throughput|latency|all]
set -eu
cd "$(dirname "$0")/../.."
swift build -c release --product esper-bench-oona >/dev/null
mode="${1:-all}"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, $(redis-server --version | cut -d' ' -f3), swift build -c release"
echo "# .build/release/esper-bench-oona $mode"
exec .build/release/esper-bench-oona "$mode"
