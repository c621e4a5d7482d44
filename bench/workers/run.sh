#!/usr/bin/env bash
# Runs per minute with 1 vs 2 `esper worker` processes, and the scaling ratio (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product esper
python3 bench/workers/bench.py "${1:-12}"
