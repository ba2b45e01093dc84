"""Pure HTTP routing for the admin listener: request in, response out, no KSR."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: str = ""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: str
    content_type: str = "application/json"
    headers: tuple[str, ...] = ()  # extra header lines, e.g. a WWW-Authenticate challenge

    @property
    def reason(self) -> str:
        return REASONS.get(self.status, "Unknown")


REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
    413: "Payload Too Large", 415: "Unsupported Media Type", 500: "Internal Server Error",
    503: "Service Unavailable",
}


def json_response(status: int, payload: object) -> HttpResponse:
    return HttpResponse(status, json.dumps(payload, separators=(",", ":"), sort_keys=True))


def error(status: int, message: str, field_name: str | None = None) -> HttpResponse:
    payload: dict[str, object] = {"error": message}
    if field_name:
        payload["field"] = field_name
    return json_response(status, payload)


WRITES = ("PUT", "POST", "PATCH")


def unsupported_media(req: HttpRequest) -> HttpResponse | None:
    """A write with a body must say it is JSON (415 otherwise); parameters such as charset
    may follow the media type."""
    if req.method.upper() not in WRITES or not req.body:
        return None
    media = req.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "application/json":
        return None
    return error(415, f"Content-Type must be application/json, not {media or 'missing'!r}", "Content-Type")


Handler = Callable[[HttpRequest, dict[str, str]], HttpResponse]


class Router:
    """Routes like '/v1/orgs/{org}/agents/{ext}' to handlers by method."""

    def __init__(self) -> None:
        self._routes: list[tuple[list[str], str, Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((pattern.strip("/").split("/"), method.upper(), handler))

    def dispatch(self, req: HttpRequest) -> HttpResponse:
        parts = req.path.strip("/").split("/")
        allowed = False
        for pattern, method, handler in self._routes:
            params = _match(pattern, parts)
            if params is None:
                continue
            if method == req.method.upper():
                return handler(req, params)
            allowed = True
        if allowed:
            return error(405, f"method {req.method} not allowed on {req.path}")
        return error(404, f"no such resource: {req.path}")


def _match(pattern: list[str], parts: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(parts):
        return None
    params: dict[str, str] = {}
    for want, got in zip(pattern, parts, strict=False):
        if want.startswith("{") and want.endswith("}"):
            if not got:
                return None
            params[want[1:-1]] = got
        elif want != got:
            return None
    return params
