# Shared by the runbook checks: the server's URL and token from the environment, one GET
# helper that fails loudly, and the ok/fail exits. Source it; do not run it.
#   ESPER_URL        server base URL (default http://127.0.0.1:8080)
#   ESPER_API_TOKEN  bearer token, sent when set (needed with ESPER_API_PROTECT_READS=on)
#   ESPER_CHECK_TIMEOUT  seconds per request (default 5)
set -euo pipefail
ESPER_URL="${ESPER_URL:-http://127.0.0.1:8080}"
ESPER_URL="${ESPER_URL%/}"
CHECK="$(basename "$0" .sh)"

for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "$CHECK: FAIL: $tool is not installed" >&2; exit 2; }
done

fail() { echo "$CHECK: FAIL: $*" >&2; exit 1; }
ok() { echo "$CHECK: OK: $*"; exit 0; }

# esper_get PATH [ALLOWED_STATUS...]: prints the body; fails on no answer or an unexpected
# status (default 200 only).
esper_get() {
  local path="$1"; shift
  local allowed=("${@:-200}")
  local auth=()
  [ -n "${ESPER_API_TOKEN:-}" ] && auth=(-H "Authorization: Bearer $ESPER_API_TOKEN")
  local body status
  body="$(mktemp)"
  if ! status="$(curl -sS --max-time "${ESPER_CHECK_TIMEOUT:-5}" "${auth[@]}" -o "$body" -w '%{http_code}' "$ESPER_URL$path" 2>"$body.err")"; then
    local why; why="$(cat "$body.err")"; rm -f "$body" "$body.err"
    fail "no answer from $ESPER_URL$path ($why)"
  fi
  rm -f "$body.err"
  local s
  for s in "${allowed[@]}"; do
    if [ "$status" = "$s" ]; then cat "$body"; rm -f "$body"; return 0; fi
  done
  local detail; detail="$(jq -r '.detail? // empty' <"$body" 2>/dev/null || true)"
  rm -f "$body"
  fail "GET $path answered $status${detail:+: $detail}"
}
