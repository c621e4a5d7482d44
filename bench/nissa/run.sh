#!/bin/sh
# Nissa benchmark: /metrics render and /grafana/query with 100 metrics x 10,000 points each.
# Usage: bench/nissa/run.sh [--iterations N]
set -eu
cd "$(dirname "$0")/../.."
swift build -c release --product esper-bench-nissa >/dev/null
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), swift build -c release"
echo "# .build/release/esper-bench-nissa $*"
exec .build/release/esper-bench-nissa "$@"
