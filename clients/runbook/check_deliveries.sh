#!/usr/bin/env bash
# Runbook check: every alert notification was delivered (none parked as undeliverable, none
# rejected by its receiver).
source "$(dirname "$0")/lib.sh"
text="$(esper_get /metrics)"
pending="$(awk '/^esper_nissa_notifications_pending /{print $2}' <<<"$text")"
pending="${pending:-0}"
[ "${pending%.*}" = "0" ] || fail "$pending notification(s) not delivered: GET /api/v1/nissa/deliveries for the receivers and errors"
# A receiver that answered 4xx is not retried (the request would fail again): nothing is
# pending, yet the notification never arrived.
rejected="$(awk '/^esper_nissa_notifications_total\{.*outcome="rejected"/{s+=$2} END{print s+0}' <<<"$text")"
[ "${rejected%.*}" = "0" ] || fail "$rejected notification(s) rejected by their receiver (4xx, not retried): GET /api/v1/nissa/deliveries, fix the webhook URL or payload"
ok "no undelivered notifications"
