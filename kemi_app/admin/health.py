"""GET /health: 200 when Kamailio (this process answering, its start-up work done), Redis and
rtpengine all respond."""

from __future__ import annotations

from collections.abc import Callable

from kemi_app.admin.router import HttpResponse, json_response


def health(checks: dict[str, Callable[[], bool]], started: bool = True) -> HttpResponse:
    parts = {"kamailio": "ok" if started else "starting"}
    for name, check in checks.items():
        try:
            parts[name] = "ok" if check() else "unreachable"
        except Exception as e:
            parts[name] = f"error: {type(e).__name__}"
    failing = sorted(name for name, state in parts.items() if state != "ok")
    body = {"status": "ok" if not failing else "degraded", "components": parts, "failing": failing}
    return json_response(200 if not failing else 503, body)
