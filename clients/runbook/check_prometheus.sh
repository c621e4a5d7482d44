#!/usr/bin/env bash
# Runbook check: Prometheus (PROMETHEUS_URL, default http://127.0.0.1:9090; `make infra`) is
# ready and its `nissa` job scrapes this server with health "up".
source "$(dirname "$0")/lib.sh"
PROMETHEUS_URL="${PROMETHEUS_URL:-http://127.0.0.1:9090}"
curl -fsS --max-time "${ESPER_CHECK_TIMEOUT:-5}" "$PROMETHEUS_URL/-/ready" >/dev/null 2>&1 || fail "Prometheus at $PROMETHEUS_URL is not ready (make infra starts it)"
targets="$(curl -fsS --max-time "${ESPER_CHECK_TIMEOUT:-5}" "$PROMETHEUS_URL/api/v1/targets")" || fail "cannot read $PROMETHEUS_URL/api/v1/targets"
nissa="$(jq -c '[.data.activeTargets[] | select(.labels.job == "nissa") | {scrapeUrl, health, lastError}]' <<<"$targets")"
[ "$(jq 'length' <<<"$nissa")" != "0" ] || fail "Prometheus has no target for job nissa"
down="$(jq -r '.[] | select(.health != "up") | "\(.scrapeUrl) \(.health) \(.lastError)"' <<<"$nissa")"
[ -z "$down" ] || fail "nissa target not up: $down"
ok "job nissa up: $(jq -r 'map(.scrapeUrl) | join(", ")' <<<"$nissa")"
