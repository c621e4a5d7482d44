"""Schemathesis hooks for scripts/api_conformance.py: the failures where schemathesis is wrong.

openapi/esper.yaml says what the server accepts; every mismatch schemathesis found was fixed in
the document or the server, except these, which a schema cannot express. Each rule drops only a
failure whose response names exactly such a reason, so any other refusal in the same response
still fails the run:

- A refusal that depends on the server's state, not on the request's shape: a list `cursor`
  that this server did not issue (it is opaque base64url; only issued ones decode), a `rule`
  filter naming no loaded alert rule (the rules file is configuration), a `blueprint_id` not in
  the catalog, template `parameters.*` the named template does not take (each template has its
  own), policy `features` whose count differs from the loaded network's feature_dim, and an
  `X-Esper-SHA256` header that is not the SHA-256 of the body sent with it.
- jansson (the JSON parser) keeps object keys as C strings, so a key containing U+0000 is refused
  as unparseable (400) even where the document allows any key (Grafana's free-form objects).
- Grafana's JSON datasource endpoints read only the fields they use; the plugin's other fields
  (their shapes vary between plugin versions) are ignored whatever their type, so a request
  that violates the document only in such a field is answered, not refused.
"""
from __future__ import annotations

import json
import re

import schemathesis

# (field, message pattern) pairs whose truth depends on the server's state.
STATEFUL_REFUSALS = [
    ("cursor", re.compile(r"^(is not a cursor this server issued|malformed)$")),
    ("rule", re.compile(r"^no loaded rule is named ")),
    ("blueprint_id", re.compile(r"^no blueprint .* in the catalog$")),
    (re.compile(r"^parameters\."), re.compile(r"^unknown parameter |^unknown parameter$")),
    ("features", re.compile(r"^expected [0-9]+ numbers$")),
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
        if detail.startswith("checksum mismatch: the body's SHA-256 is "):
            return True
        if body.get("type") == "/problems/malformed-json" and "NUL byte in object key not supported" in detail:
            return True
    if case.path.startswith("/grafana/"):
        if failure.code == "ST201" and response.status_code == 200:
            return True
        # `/grafana/variable` takes the variable as `payload.target`, `payload` (text) or
        # `target` (older plugins): one of them is required, which the document leaves open.
        if failure.code == "ST202" and [e.get("field") for e in errors] == ["payload.target"]:
            return str(errors[0].get("message", "")).startswith("required, ")
    return False


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    return not explained(failure, case, response)
