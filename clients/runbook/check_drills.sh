#!/usr/bin/env bash
# Runbook check: the fault drills — every alert rule, fed a breaching series through the real
# ingest path, fires, is held firing (NISSA_DRILL_HOLD_S, default 60 s: long enough for
# Alertmanager to list it) and then clears. Drill alerts carry drill="true" and are routed
# like real ones: this PAGES every configured receiver, so it is not part of "run every
# check" and asks first (answer y, or pass --yes / ESPER_DRILLS_CONFIRM=yes).
#   ESPER_DRILL_HOLD_S  hold for this run (0-3600 s; default: the server's NISSA_DRILL_HOLD_S)
source "$(dirname "$0")/lib.sh"
if [ "${1:-}" != "--yes" ] && [ "${ESPER_DRILLS_CONFIRM:-}" != "yes" ]; then
  [ -t 0 ] || fail "drills page every configured receiver; confirm with --yes or ESPER_DRILLS_CONFIRM=yes"
  read -r -p "Drills notify every receiver of every rule (label drill=\"true\"). Run them? [y/N] " answer
  [[ "$answer" =~ ^[yY] ]] || fail "not confirmed"
fi
query=""
if [ -n "${ESPER_DRILL_HOLD_S:-}" ]; then
  [[ "$ESPER_DRILL_HOLD_S" =~ ^[0-9]+$ ]] || fail "ESPER_DRILL_HOLD_S must be whole seconds, got '$ESPER_DRILL_HOLD_S'"
  query="?hold_s=$ESPER_DRILL_HOLD_S"
fi
auth=()
[ -n "${ESPER_API_TOKEN:-}" ] && auth=(-H "Authorization: Bearer $ESPER_API_TOKEN")
body="$(mktemp)"
status="$(curl -sS --max-time 60 "${auth[@]}" -X POST -o "$body" -w '%{http_code}' "$ESPER_URL/api/v1/nissa/drills$query" 2>&1)" \
  || { rm -f "$body"; fail "no answer from $ESPER_URL/api/v1/nissa/drills ($status)"; }
result="$(cat "$body")"; rm -f "$body"
[ "$status" = "200" ] || fail "POST /api/v1/nissa/drills answered $status: $(jq -r '.detail? // empty' <<<"$result" 2>/dev/null)"
[ "$(jq '.items | length' <<<"$result")" != "0" ] || fail "no rules to drill"
untriggered="$(jq -r '[.items[] | select(.triggered != true) | .name] | join(", ")' <<<"$result")"
[ -z "$untriggered" ] || fail "drills that did not fire: $untriggered"
hold="$(jq -r '[.items[].hold_s] | max' <<<"$result")"
echo "$CHECK: every drill fired; holding them ${hold} s, then they resolve"
# Wait for the holds to end and the recovery samples to resolve the alerts.
deadline=$(( $(date +%s) + ${hold%.*} + 30 ))
while :; do
  result="$(esper_get /api/v1/nissa/drills)"
  [ "$(jq '[.items[] | select(.state == "holding")] | length' <<<"$result")" = "0" ] && break
  [ "$(date +%s)" -lt "$deadline" ] || fail "drills still holding after ${hold} s + 30 s"
  sleep 1
done
jq -r '.items[] | "Drill \(.name): triggered=\(.triggered) cleared=\(.cleared) held=\(.hold_s)s"' <<<"$result"
bad="$(jq -r '[.items[] | select(.triggered != true or .cleared != true) | .name] | join(", ")' <<<"$result")"
[ -z "$bad" ] || fail "drills that did not trigger and clear: $bad"
ok "$(jq '.items | length' <<<"$result") drills triggered, held and cleared"
