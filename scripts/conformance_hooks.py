"""Schemathesis hooks for scripts/api_conformance.py: the failures where schemathesis is wrong.

openapi/esper.yaml says what the server accepts; every mismatch schemathesis found was fixed in
the document or the server, except these, which a schema cannot express. Each rule drops only a
failure whose response names exactly such a reason, so any other refusal in the same response
still fails the run:

- A refusal that depends on the server's state, not on the request's shape: a list `cursor`
  that this server did not issue (it is opaque base64url; only issued ones decode), a `rule`
  filter naming no loaded alert rule (the rules file is configuration), a `blueprint_id` not in
  the catalog, template `parameters.*` the named template does not take (each template has its
  own, with their own required ones; widening templates are built by Kasmina, not compiled),
  an approval for a template that needs none, a Karn
  selection no catalog template meets (`/problems/no-candidates`), policy `features`,
  `stage_index` and `blueprint_index` outside the loaded network's sizes, an `X-Esper-SHA256`
  header that is not the SHA-256 of the body sent with it, and a body that is no artifact.
- Rules between fields: a Grafana `range` whose `from` is after its `to`, and the run config's
  (POST /api/v1/runs and /api/v1/studies): between fields, per data-set and layer kind, over
  files, distinct arm names — stated in the document's words; a generated config rarely meets
  them all, so their field-naming 422s are dropped (never a 2xx to a forbidden config).

- A repeated Idempotency-Key: the answer is the run or study the key first created (the
  documented idempotency), whatever the new body, so a schema-violating body sent with a key
  that already created something is not "accepted" (after_call records what each key created).
- jansson (the JSON parser) keeps object keys as C strings, so a key containing U+0000 is refused
  as unparseable (400) even where the document allows any key (Grafana's free-form objects).
- Grafana's JSON datasource endpoints read only the fields they use; the plugin's other fields
  (their shapes vary between plugin versions) are ignored whatever their type, so a request
  that violates the document only in such a field is answered, not refused.
"""
from __future__ import annotations

import json
import re
import time
from datetime import datetime

import schemathesis

# (field, message pattern) pairs whose truth depends on the server's state.
STATEFUL_REFUSALS = [
    ("cursor", re.compile(r"^(is not a cursor this server issued|malformed)$")),
    ("rule", re.compile(r"^no loaded rule is named ")),
    ("blueprint_id", re.compile(r"^no blueprint .* in the catalog$|^BP[0-9]{3} does not require an approval$")),
    (re.compile(r"^parameters\."), re.compile(r"^unknown parameter\b|^missing required parameter\b")),
    ("features", re.compile(r"^expected [0-9]+ numbers$")),
    (re.compile(r"^(stage|blueprint)_index$"), re.compile(r"^in 0…[0-9]+$")),
    ("range", re.compile(r"^from is after to$")),
    ("parameters", re.compile(r"^a widening template is shaped by the host")),
]

def problem(response) -> dict | None:
    try:
        body = json.loads(response.content)
    except (TypeError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def stateful(field: str, message: str) -> bool:
    for name, pattern in STATEFUL_REFUSALS:
        named = name.match(field) if isinstance(name, re.Pattern) else field == name
        if named and pattern.search(message):
            return True
    return False


def explained(failure, case, response) -> bool:
    """True when the failure is one of the documented cases above."""
    body = problem(response) or {}
    detail = str(body.get("detail", ""))
    errors = body.get("errors") or []
    if failure.code == "ST202" and response.status_code in (400, 422):
        if errors and all(stateful(str(e.get("field", "")), str(e.get("message", ""))) for e in errors):
            return True
        if detail.startswith("checksum mismatch: the body's SHA-256 is ") or detail == "the body holds no artifact":
            return True
        if body.get("type") == "/problems/no-candidates":  # the catalog has no template for the criteria
            return True
        # A run config (alone or as a study's base) obeys rules between fields, per data-set and
        # layer kind, and over files, which the document states in words: a generated config
        # rarely meets them all, so a field-naming 422 to these two is not held against the
        # document (a 2xx to a config the schema forbids still is, and so is any 400).
        if case.path in ("/api/v1/runs", "/api/v1/studies") and response.status_code == 422 and errors:
            return body.get("type") == "/problems/validation"
        if body.get("type") == "/problems/malformed-json" and "NUL byte in object key not supported" in detail:
            return True
    key = (case.headers or {}).get("Idempotency-Key")
    if failure.code == "ST201" and key and created_id(response):
        first = FIRST_CREATED.get((case.path, key))
        if first is not None and first[0] == created_id(response) and first[1] != id(case):
            return True
        if created_before(response, seconds=2):  # created by an earlier pass (another process)
            return True
    if case.path.startswith("/grafana/"):
        if failure.code == "ST201" and response.status_code == 200:
            return True
        # `/grafana/variable` takes the variable as `payload.target`, `payload` (text) or
        # `target` (older plugins): one of them is required, which the document leaves open.
        if failure.code == "ST202" and [e.get("field") for e in errors] == ["payload.target"]:
            return str(errors[0].get("message", "")).startswith("required, ")
        # An annotation query names a table after Grafana's escaping (`nissa\.alerts`, blanks
        # trimmed): the document lists the tables in words.
        if failure.code == "ST202" and [e.get("field") for e in errors] == ["annotation.query"]:
            return "is not nissa.alerts or nissa.events" in str(errors[0].get("message", ""))
        # A target's `payload` may be an object or its JSON text; text that holds no object is
        # refused, which a string schema cannot say.
        if failure.code == "ST202" and errors and all(
            re.match(r"^targets\[[0-9]+\]\.payload$", str(e.get("field", "")))
            and e.get("message") == "must be an object (or its JSON text)"
            for e in errors
        ):
            return True
    return False


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    return not explained(failure, case, response)



# The run or study id each Idempotency-Key first created, per operation.
FIRST_CREATED: dict[tuple[str, str], tuple[str, int]] = {}


def created_id(response) -> str | None:
    body = problem(response) or {}
    return body.get("id") if response.status_code in (201, 202) else None


def created_before(response, seconds: float) -> bool:
    """Whether the answered resource is older than this request (by more than `seconds`)."""
    text = str((problem(response) or {}).get("created_at", ""))
    try:
        created = datetime.fromisoformat(re.sub(r"(\.[0-9]{6})[0-9]*", r"\1", text.replace("Z", "+00:00")))
    except ValueError:
        return False
    return created.timestamp() < time.time() - response.elapsed - seconds


@schemathesis.hook
def after_call(context, case, response):
    key = (case.headers or {}).get("Idempotency-Key")
    if key and case.path in ("/api/v1/runs", "/api/v1/studies") and created_id(response):
        FIRST_CREATED.setdefault((case.path, key), (created_id(response), id(case)))
