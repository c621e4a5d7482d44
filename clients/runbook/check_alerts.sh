#!/usr/bin/env bash
# Runbook check: no Nissa alert is firing and no SLO is breached (GET /metrics/summary).
# Each firing alert is printed with its severity and the runbook line of its rule.
source "$(dirname "$0")/lib.sh"
summary="$(esper_get /metrics/summary)"
firing="$(jq -r '.alerts | to_entries[] | "\(.key) (\(.value.severity // "?"))"' <<<"$summary")"
breached="$(jq -r '.slo | to_entries[] | select(.value.breached == true) | .key' <<<"$summary")"
if [ -n "$firing" ] || [ -n "$breached" ]; then
  rules="$(esper_get /api/v1/nissa/rules)"
  while read -r name; do
    [ -n "$name" ] || continue
    echo "  ${name}: $(jq -r --arg n "${name%% *}" '.items[]? | select(.name == $n) | .runbook // "no runbook line"' <<<"$rules")" >&2
  done <<<"$firing"
  fail "firing: ${firing//$'\n'/, }${breached:+; SLO breached: ${breached//$'\n'/, }}"
fi
ok "no alert firing, no SLO breached"
