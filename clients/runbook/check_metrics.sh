#!/usr/bin/env bash
# Runbook check: /metrics serves the Prometheus exposition with the families the dashboards
# and alert rules read.
source "$(dirname "$0")/lib.sh"
text="$(esper_get /metrics)"
missing=()
for family in esper_http_requests_total esper_telemetry_packets_total esper_oona_publish_total \
  esper_oona_publish_dropped_total esper_oona_queue_depth esper_alerts_active esper_nissa_notifications_pending; do
  grep -q "^# TYPE $family " <<<"$text" || missing+=("$family")
done
[ ${#missing[@]} -eq 0 ] || fail "missing metric families: ${missing[*]}"
ok "$(grep -c '^# TYPE ' <<<"$text") metric families"
