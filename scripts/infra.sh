#!/usr/bin/env bash
# `make infra`: a local Prometheus (Debian's package) scraping esper with infra/prometheus.yml,
# the target rewritten to ESPER_TARGET (default localhost:8080). Data in var/prometheus; UI
# and API on PROMETHEUS_LISTEN (default 127.0.0.1:9090). Dev only: no auth. Grafana is not
# packaged by Debian: run it from its image with infra/grafana mounted (docs/nissa.md).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v prometheus >/dev/null || { echo "infra: prometheus not found; run scripts/bootstrap.sh" >&2; exit 1; }
target=${ESPER_TARGET:-localhost:8080}
listen=${PROMETHEUS_LISTEN:-127.0.0.1:9090}
mkdir -p var/prometheus
sed "s/localhost:8080/$target/" infra/prometheus.yml > var/prometheus/prometheus.yml
cp infra/prometheus-rules.yml var/prometheus/
promtool check config var/prometheus/prometheus.yml
echo "infra: Prometheus on http://$listen scraping http://$target/metrics (job nissa); Ctrl-C stops it" >&2
exec prometheus --config.file=var/prometheus/prometheus.yml --storage.tsdb.path=var/prometheus/data --web.listen-address="$listen"
