#!/usr/bin/env bash
# Runbook check: the forge has run, nothing is pending in its WAL, nothing failed, and no
# blueprint is missing from Urza.
source "$(dirname "$0")/lib.sh"
forge="$(esper_get /api/v1/tezzeret/forge)"
state="$(jq -r .state <<<"$forge")"
pending="$(jq -r '.pending | length' <<<"$forge")"
# A template whose shape cannot fit the seed width (shape_invalid) can never compile here:
# reported, not a failure.
failed="$(jq -r '[.failed[]? | select(.code != "shape_invalid") | .blueprint_id] | join(", ")' <<<"$forge")"
unfit="$(jq -r '[.failed[]? | select(.code == "shape_invalid") | .blueprint_id] | join(", ")' <<<"$forge")"
[ "$(jq -r '.last_run == null' <<<"$forge")" = "false" ] || fail "the forge has never run (state $state): POST /api/v1/tezzeret/forge or esper forge"
[ "$state" != "running" ] || fail "the forge is running ($pending pending); check again when it is idle"
[ "$pending" = "0" ] || fail "$pending blueprints pending in the forge WAL: $(jq -r '.pending | join(", ")' <<<"$forge")"
[ -z "$failed" ] || fail "failed compiles: $failed"
ok "forge idle, last run compiled $(jq -r '.last_run.compiled | length' <<<"$forge"), nothing pending or failed${unfit:+ (do not fit the seed width: $unfit)}"
