#!/usr/bin/env bash
# Runbook check: every alert notification was delivered (none parked as undeliverable).
source "$(dirname "$0")/lib.sh"
text="$(esper_get /metrics)"
pending="$(awk '/^esper_nissa_notifications_pending /{print $2}' <<<"$text")"
pending="${pending:-0}"
[ "${pending%.*}" = "0" ] || fail "$pending notification(s) not delivered: GET /api/v1/nissa/deliveries for the receivers and errors"
ok "no undelivered notifications"
