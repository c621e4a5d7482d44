"""HTTP client for the Esper API: typed errors from problem+json, retries on 503 honouring
Retry-After, cursor pagination, bearer-token auth and Idempotency-Key on creating POSTs."""
from __future__ import annotations

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

    # -- health ---------------------------------------------------------------------------

    def health(self) -> Dict[str, Any]:
        """The /healthz document; a degraded server (503) is returned, not raised."""
        response = self.session.get(self.base_url + "/healthz", timeout=self.timeout)
        return response.json()

    def version(self) -> Dict[str, Any]:
        return self.get("/api/v1/version")

    def metrics_text(self) -> str:
        return self.request("GET", "/metrics").text


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
