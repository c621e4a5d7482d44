#!/usr/bin/env bash
# Runbook check: no running run has seed isolation violations and the
# kasmina_isolation_violation alert is not firing. Names each offending run and seed.
source "$(dirname "$0")/lib.sh"
problems=()
alerts="$(esper_get '/api/v1/nissa/alerts?state=firing&rule=kasmina_isolation_violation' 200 400)"
n="$(jq -r '.items? | length' <<<"$alerts")"
[ "$n" = "0" ] || problems+=("kasmina_isolation_violation firing")
runs="$(esper_get '/api/v1/runs?status=running&limit=500')"
for run in $(jq -r '.items[].id' <<<"$runs"); do
  seeds="$(esper_get "/api/v1/runs/$run/seeds")"
  count="$(jq -r '.isolation_violations // 0' <<<"$seeds")"
  if [ "$count" != "0" ]; then
    problems+=("run $run: $count violations (seeds: $(jq -r '[.items[] | select(.isolation_violations > 0) | "\(.seed_id) \(.stage)"] | join(", ")' <<<"$seeds"))")
  fi
done
[ ${#problems[@]} -eq 0 ] || fail "$(IFS=';'; echo "${problems[*]}")"
ok "no isolation violations in $(jq -r '.items | length' <<<"$runs") running run(s)"
