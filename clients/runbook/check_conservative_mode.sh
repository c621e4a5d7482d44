#!/usr/bin/env bash
# Runbook check: Tamiyo is not in conservative mode (safe-pool germinations only). When it is,
# prints why and since when; turn it off with PUT /api/v1/tamiyo/mode once the cause is fixed.
source "$(dirname "$0")/lib.sh"
mode="$(esper_get /api/v1/tamiyo/mode)"
[ "$(jq -r .conservative <<<"$mode")" = "false" ] \
  || fail "conservative mode on since $(jq -r .since <<<"$mode") (source $(jq -r .source <<<"$mode"), reason: $(jq -r '.reason // ""' <<<"$mode"))"
ok "conservative mode off"
