"""A tiny client for the admin API of the edge under test."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.conftest import API_TOKEN


def api(edge, method: str, path: str, body: object = None, token: str | None = API_TOKEN,
        raw: bytes | None = None) -> tuple[int, object]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(edge.admin_url + path, data=data, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    return status, (json.loads(payload) if payload else None)
