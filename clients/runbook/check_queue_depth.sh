#!/usr/bin/env bash
# Runbook check: the bus keeps up. Nothing was dropped by any publisher (the server and every
# `esper worker`: `fleet.publish_dropped`), nothing is dead-lettered, and no stream's backlog —
# entries its consuming groups have not handled yet, not the consumed history it keeps — is
# at ESPER_QUEUE_DEPTH_LIMIT (default 4000, the emergency threshold and the oona_queue_depth
# alert's).
source "$(dirname "$0")/lib.sh"
limit="${ESPER_QUEUE_DEPTH_LIMIT:-4000}"
[[ "$limit" =~ ^[0-9]+$ ]] || fail "ESPER_QUEUE_DEPTH_LIMIT must be a whole number, got '$limit'"
m="$(esper_get /api/v1/oona/metrics)"
dropped="$(jq -r '.fleet.publish_dropped // .publish_dropped' <<<"$m")"
dead="$(jq -r .dead_lettered <<<"$m")"
rerouted="$(jq -r '.fleet.publish_rerouted // .publish_rerouted' <<<"$m")"
deepest="$(jq -r '(.stream_backlog // {}) | to_entries | max_by(.value) // {key: "normal", value: 0} | "\(.key) \(.value)"' <<<"$m")"
stream="${deepest% *}"; depth="${deepest#* }"
problems=()
[ "$dropped" = "0" ] || problems+=("$dropped publishes dropped ($(jq -r '[.publishers[]? | select(.counters.publish_dropped > 0) | "\(.id): \(.counters.publish_dropped)"] | join(", ")' <<<"$m"))")
[ "$dead" = "0" ] || problems+=("$dead entries dead-lettered")
[ "$depth" -lt "$limit" ] || problems+=("$stream stream backlog (queue depth) $depth ≥ $limit")
[ ${#problems[@]} -eq 0 ] || fail "$(IFS=';'; echo "${problems[*]}") (rerouted $rerouted)"
ok "largest backlog $depth ($stream) < $limit, rerouted $rerouted, dropped 0 across $(jq -r '.publishers | length' <<<"$m") publishers, conservative mode $(jq -r 'if .conservative_mode then "on" else "off" end' <<<"$m")"
