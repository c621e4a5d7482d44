#!/usr/bin/env bash
# Runbook check: the bus keeps up. Nothing was dropped (publish_dropped = 0), nothing is
# dead-lettered, and the normal stream is below ESPER_QUEUE_DEPTH_LIMIT (default 4000, the
# emergency threshold and the oona_queue_depth alert's).
source "$(dirname "$0")/lib.sh"
limit="${ESPER_QUEUE_DEPTH_LIMIT:-4000}"
[[ "$limit" =~ ^[0-9]+$ ]] || fail "ESPER_QUEUE_DEPTH_LIMIT must be a whole number, got '$limit'"
m="$(esper_get /api/v1/oona/metrics)"
dropped="$(jq -r .publish_dropped <<<"$m")"
dead="$(jq -r .dead_lettered <<<"$m")"
depth="$(jq -r .queue_depth_normal <<<"$m")"
rerouted="$(jq -r .publish_rerouted <<<"$m")"
problems=()
[ "$dropped" = "0" ] || problems+=("$dropped publishes dropped")
[ "$dead" = "0" ] || problems+=("$dead entries dead-lettered")
[ "$depth" -lt "$limit" ] || problems+=("normal stream depth $depth ≥ $limit")
[ ${#problems[@]} -eq 0 ] || fail "$(IFS=';'; echo "${problems[*]}") (rerouted $rerouted)"
ok "normal depth $depth < $limit, emergency $(jq -r .queue_depth_emergency <<<"$m"), rerouted $rerouted, dropped 0"
