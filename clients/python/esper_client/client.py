"""HTTP client for the Esper API: typed errors from problem+json, retries on 503 honouring
Retry-After, cursor pagination, bearer-token auth, Idempotency-Key on creating POSTs, and
Server-Sent Events that resume after a dropped connection with Last-Event-ID."""
from __future__ import annotations

import json as jsonlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional

import requests


@dataclass
class FieldError:
    field: str
    message: str


@dataclass
class EsperAPIError(Exception):
    """An error answer from the server (RFC 9457 problem details)."""

    status: int
    type: str
    title: str
    detail: str
    errors: List[FieldError] = field(default_factory=list)
    request_id: Optional[str] = None

    def __str__(self) -> str:
        fields = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        suffix = f" [{fields}]" if fields else ""
        return f"{self.status} {self.title}: {self.detail}{suffix}"


@dataclass
class Event:
    """One Server-Sent Event: `event` (epoch, seed, command, alert, run, gap), `id` (the
    cursor to resume after it) and `data` decoded from its JSON line."""

    event: Optional[str] = None
    id: Optional[str] = None
    data: Any = None
    retry: Optional[int] = None


def _parse_sse(lines: Iterator[str]) -> Iterator[Event]:
    """Groups `field: value` lines into events (a blank line ends one; comments are skipped)."""
    current = Event()
    data: List[str] = []
    for line in lines:
        if line == "":
            if data:
                text = "\n".join(data)
                try:
                    current.data = jsonlib.loads(text)
                except ValueError:
                    current.data = text
            if current.event or current.data is not None or current.retry is not None:
                yield current
            current, data = Event(), []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            current.event = value
        elif name == "id":
            current.id = value
        elif name == "data":
            data.append(value)
        elif name == "retry" and value.isdigit():
            current.retry = int(value)


class EsperClient:
    """A small, explicit client. Every method returns decoded JSON (dicts and lists)."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        token: Optional[str] = None,
        timeout: float = 10.0,
        max_retries: int = 3,
        session: Optional[requests.Session] = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.max_retries = max_retries
        self.session = session or requests.Session()

    # -- plumbing -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Optional[Dict[str, Any]] = None,
        json: Any = None,
        idempotency_key: Optional[str] = None,
    ) -> requests.Response:
        """Sends one request; retries 503 (and connection resets) up to `max_retries` times,
        sleeping for the server's Retry-After (capped at 30 s). Raises EsperAPIError for any
        4xx/5xx answer."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        attempt = 0
        while True:
            try:
                response = self.session.request(
                    method, self.base_url + path, params=params, json=json, headers=headers, timeout=self.timeout
                )
            except requests.ConnectionError:
                if attempt >= self.max_retries:
                    raise
                attempt += 1
                time.sleep(min(0.2 * 2**attempt, 5.0))
                continue
            if response.status_code == 503 and attempt < self.max_retries:
                attempt += 1
                time.sleep(_retry_after(response))
                continue
            if response.status_code >= 400:
                raise _problem(response)
            return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def post(self, path: str, body: Any = None, *, create: bool = False) -> Any:
        """POST; `create=True` adds a fresh Idempotency-Key so a retried create is not doubled."""
        key = str(uuid.uuid4()) if create else None
        response = self.request("POST", path, json=body, idempotency_key=key)
        return response.json() if response.content else None

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json=body).json()

    def paginate(self, path: str, limit: int = 50, **params: Any) -> Iterator[Dict[str, Any]]:
        """Yields every item of a list endpoint, following `next_cursor`."""
        cursor: Optional[str] = None
        while True:
            page = self.get(path, limit=limit, cursor=cursor, **params)
            yield from page.get("items", [])
            cursor = page.get("next_cursor")
            if not cursor:
                return

    # -- live events ----------------------------------------------------------------------

    def events(
        self,
        run_id: Optional[str] = None,
        types: Optional[List[str]] = None,
        last_event_id: Optional[str] = None,
        reconnect: bool = True,
    ) -> Iterator[Event]:
        """Yields Server-Sent Events (docs/events.md) of one run or of everything, for ever.
        A dropped connection is reopened with the last event id seen, so nothing is missed
        and nothing repeats; `last_event_id="0-0,0-0,0-0"` starts with everything the bus
        still holds. Heartbeats are not yielded."""
        path = f"/api/v1/runs/{run_id}/events" if run_id else "/api/v1/events"
        params = {"types": ",".join(types)} if types else None
        last = last_event_id
        retry = 2.0
        while True:
            headers = {"Accept": "text/event-stream"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            if last:
                headers["Last-Event-ID"] = last
            try:
                with self.session.get(
                    self.base_url + path, params=params, headers=headers, stream=True, timeout=(self.timeout, None)
                ) as response:
                    if response.status_code >= 400:
                        if response.status_code == 503 and reconnect:
                            time.sleep(_retry_after(response))
                            continue
                        raise _problem(response)
                    for event in _parse_sse(response.iter_lines(decode_unicode=True)):
                        if event.retry is not None:
                            retry = event.retry / 1000
                        if event.id:
                            last = event.id
                        if event.event:
                            yield event
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                pass
            if not reconnect:
                return
            time.sleep(retry)

    # -- health ---------------------------------------------------------------------------

    def health(self) -> Dict[str, Any]:
        """The /healthz document; a degraded server (503) is returned, not raised."""
        response = self.session.get(self.base_url + "/healthz", timeout=self.timeout)
        return response.json()

    def version(self) -> Dict[str, Any]:
        return self.get("/api/v1/version")

    def metrics_text(self) -> str:
        return self.request("GET", "/metrics").text

    # -- studies --------------------------------------------------------------------------

    def create_study(self, study: Dict[str, Any], idempotency_key: Optional[str] = None) -> Dict[str, Any]:
        """POST /api/v1/studies (a fresh Idempotency-Key unless one is given)."""
        key = idempotency_key or str(uuid.uuid4())
        return self.request("POST", "/api/v1/studies", json=study, idempotency_key=key).json()

    def study(self, study_id: str) -> Dict[str, Any]:
        return self.get(f"/api/v1/studies/{study_id}")

    def study_curves(self, study_id: str, metric: str = "validation_accuracy") -> Dict[str, Any]:
        return self.get(f"/api/v1/studies/{study_id}/curves", metric=metric)

    def delete_study(self, study_id: str) -> None:
        self.request("DELETE", f"/api/v1/studies/{study_id}")

    def studies(self) -> Iterator[Dict[str, Any]]:
        return self.paginate("/api/v1/studies")


def _retry_after(response: requests.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.0), 30.0)
    except ValueError:
        return 1.0


def _problem(response: requests.Response) -> EsperAPIError:
    request_id = response.headers.get("X-Request-Id")
    try:
        body = response.json()
    except ValueError:
        return EsperAPIError(response.status_code, "about:blank", response.reason or "", response.text[:500], [], request_id)
    errors = [FieldError(e.get("field", ""), e.get("message", "")) for e in body.get("errors", []) if isinstance(e, dict)]
    return EsperAPIError(
        body.get("status", response.status_code),
        body.get("type", "about:blank"),
        body.get("title", response.reason or ""),
        body.get("detail", ""),
        errors,
        request_id,
    )
