#!/usr/bin/env bash
# Runbook check: the server and every dependency it reports (Redis, bus, storage, Nissa,
# blueprints) are healthy. GET /healthz answers 200 when all are ok, 503 naming the failing ones.
source "$(dirname "$0")/lib.sh"
body="$(esper_get /healthz 200 503)"
status="$(jq -r .status <<<"$body")"
failing="$(jq -r '.checks | to_entries[] | select(.value.status != "ok") | "\(.key): \(.value.detail)"' <<<"$body")"
[ "$status" = "ok" ] && [ -z "$failing" ] || fail "status $status; ${failing//$'\n'/; }"
ok "$(jq -r '.checks | keys | join(", ")' <<<"$body") ok"
