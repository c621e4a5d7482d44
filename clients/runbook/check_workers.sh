#!/usr/bin/env bash
# Runbook check: every job kind has a live worker that takes it (training, policy and compile
# jobs wait on their Oona job stream until one does), and says how busy the slots are.
#   ESPER_WORKER_KINDS  the kinds that must have a taker (default "training policy compile")
source "$(dirname "$0")/lib.sh"
kinds="${ESPER_WORKER_KINDS:-training policy compile}"
for kind in $kinds; do
  case "$kind" in
    training|policy|compile) ;;
    *) echo "$CHECK: FAIL: ESPER_WORKER_KINDS: '$kind' is not a job kind (training, policy, compile)" >&2; exit 2 ;;
  esac
done
workers="$(esper_get /api/v1/workers)"
missing=()
for kind in $kinds; do
  takers="$(jq --arg kind "$kind" '[.items[] | select(.kinds | index($kind))] | length' <<<"$workers")"
  [ "$takers" -gt 0 ] || missing+=("$kind")
done
[ ${#missing[@]} -eq 0 ] || fail "no live worker takes ${missing[*]} jobs: they wait on jobs.${missing[0]} until one starts (esper worker --redis-url … --server-url …, or esper serve without --no-local-workers)"
ok "$(jq '.items | length' <<<"$workers") live workers, $(jq '[.items[].jobs | length] | add // 0' <<<"$workers") of $(jq '[.items[].slots] | add // 0' <<<"$workers") slots busy"
