#!/usr/bin/env bash
# Runbook check: the fault drills — every alert rule, fed a breaching series through the real
# ingest path, triggers and then clears (POST /api/v1/nissa/drills; needs the token when one is
# set). Drill alerts carry drill="true" and are routed like real ones.
source "$(dirname "$0")/lib.sh"
auth=()
[ -n "${ESPER_API_TOKEN:-}" ] && auth=(-H "Authorization: Bearer $ESPER_API_TOKEN")
body="$(mktemp)"
status="$(curl -sS --max-time 60 "${auth[@]}" -X POST -o "$body" -w '%{http_code}' "$ESPER_URL/api/v1/nissa/drills" 2>&1)" \
  || { rm -f "$body"; fail "no answer from $ESPER_URL/api/v1/nissa/drills ($status)"; }
result="$(cat "$body")"; rm -f "$body"
[ "$status" = "200" ] || fail "POST /api/v1/nissa/drills answered $status: $(jq -r '.detail? // empty' <<<"$result" 2>/dev/null)"
jq -r '.items[] | "Drill \(.name): triggered=\(.triggered) cleared=\(.cleared)"' <<<"$result"
bad="$(jq -r '[.items[] | select(.triggered != true or .cleared != true) | .name] | join(", ")' <<<"$result")"
[ "$(jq '.items | length' <<<"$result")" != "0" ] || fail "no rules to drill"
[ -z "$bad" ] || fail "drills that did not trigger and clear: $bad"
ok "$(jq '.items | length' <<<"$result") drills triggered and cleared"
