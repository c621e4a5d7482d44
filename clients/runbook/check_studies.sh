#!/usr/bin/env bash
# Runbook check: no study is stuck. A study still running whose runs have not finished an
# epoch for ESPER_STUDY_STUCK_SECONDS (default 1800) — its progress.last_progress_at is older
# than that — fails the check, named with its id and what its runs are doing. Paused,
# stopped and completed studies are not judged.
source "$(dirname "$0")/lib.sh"
limit="${ESPER_STUDY_STUCK_SECONDS:-1800}"
[[ "$limit" =~ ^[0-9]+$ ]] || fail "ESPER_STUDY_STUCK_SECONDS must be a whole number, got '$limit'"
page="$(esper_get "/api/v1/studies?limit=500")"
now="$(date -u +%s)"
running=0
problems=()
while IFS=$'\t' read -r id name last queued active paused pending; do
  [ -n "$id" ] || continue
  running=$((running + 1))
  seen="$(date -u -d "$last" +%s 2>/dev/null)" || fail "study $id: unreadable last_progress_at '$last'"
  idle=$((now - seen))
  if [ "$idle" -gt "$limit" ]; then
    problems+=("study $id ($name) no progress for ${idle}s > ${limit}s (queued $queued, running $active, paused $paused, pending $pending)")
  fi
done < <(jq -r '.items[] | select(.status == "running") | [.id, .name, .progress.last_progress_at, .progress.queued, .progress.running, .progress.paused, .progress.pending] | @tsv' <<<"$page")
[ ${#problems[@]} -eq 0 ] || fail "$(IFS=';'; echo "${problems[*]}")"
ok "$running running studies, none without progress for more than ${limit}s"
