#!/usr/bin/env bash
# Runbook check: neither Tamiyo (safe-pool germinations only) nor the bus (telemetry detail
# sampled) is in conservative mode. When one is, prints why and since when; turn it off with
# PUT /api/v1/tamiyo/mode or PUT /api/v1/oona/mode once the cause is fixed (an automatic bus
# mode turns itself off when the backlog is gone).
source "$(dirname "$0")/lib.sh"
mode="$(esper_get /api/v1/tamiyo/mode)"
[ "$(jq -r .conservative <<<"$mode")" = "false" ] \
  || fail "conservative mode on since $(jq -r .since <<<"$mode") (source $(jq -r .source <<<"$mode"), reason: $(jq -r '.reason // ""' <<<"$mode"))"
bus="$(esper_get /api/v1/oona/mode)"
[ "$(jq -r .conservative <<<"$bus")" = "false" ] \
  || fail "bus conservative mode on since $(jq -r .since <<<"$bus") (source $(jq -r .source <<<"$bus"), reason: $(jq -r '.reason // ""' <<<"$bus"))"
ok "conservative mode off (Tamiyo and the bus)"
