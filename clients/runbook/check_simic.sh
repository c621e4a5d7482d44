#!/usr/bin/env bash
# Runbook check: Simic and Tamiyo's policy. Tamiyo has refused no policy update
# (`last_refusal` in GET /api/v1/tamiyo/policy), and — given a Simic job id as the argument or
# in SIMIC_JOB_ID — that job succeeded (rejected: prints the validation reasons; failed: the
# error; queued/running: not done yet).
source "$(dirname "$0")/lib.sh"
job_id="${1:-${SIMIC_JOB_ID:-}}"
policy="$(esper_get /api/v1/tamiyo/policy)"
refusal="$(jq -r '.last_refusal // empty' <<<"$policy")"
[ -z "$refusal" ] || fail "Tamiyo refused a policy update (it keeps $(jq -r .version <<<"$policy")): $refusal"
if [ -n "$job_id" ]; then
  [[ "$job_id" =~ ^[A-Za-z0-9-]{1,64}$ ]] || fail "'$job_id' is not a Simic job id"
  job="$(esper_get "/api/v1/simic/jobs/$job_id" | jq '.job')"
  state="$(jq -r .state <<<"$job")"
  case "$state" in
    succeeded) ;;
    rejected) fail "Simic job $job_id rejected by validation: $(jq -r '.result.validation.reasons | join("; ")' <<<"$job")" ;;
    failed) fail "Simic job $job_id failed: $(jq -r '.error // .result.error // "see the server log"' <<<"$job")" ;;
    *) fail "Simic job $job_id is $state, not finished" ;;
  esac
  ok "Simic job $job_id published $(jq -r '.result.policy_version // "nothing (publish off)"' <<<"$job"); Tamiyo runs $(jq -r .version <<<"$policy")"
fi
ok "Tamiyo runs policy $(jq -r .version <<<"$policy"), no refused update"
