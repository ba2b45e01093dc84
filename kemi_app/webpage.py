"""The agent softphone page, served on the WebSocket listener's HTTP side (GET /).

Only the files listed here are served; they are read once per worker and kept in memory.
web/dist/ holds the SIP client bundled by scripts/setup.sh (npm ci + esbuild).
"""

from __future__ import annotations

from pathlib import Path

from kemi_app.admin.router import HttpResponse, error
from kemi_app.settings import PROJECT_ROOT

WEB = PROJECT_ROOT / "web"
FILES: dict[str, tuple[Path, str]] = {
    "/": (WEB / "softphone" / "index.html", "text/html; charset=utf-8"),
    "/softphone.js": (WEB / "softphone" / "softphone.js", "text/javascript; charset=utf-8"),
    "/softphone.css": (WEB / "softphone" / "softphone.css", "text/css; charset=utf-8"),
    "/jssip.min.js": (WEB / "dist" / "jssip.min.js", "text/javascript; charset=utf-8"),
}

_cache: dict[str, HttpResponse] = {}


def serve(method: str, url: str) -> HttpResponse:
    if method not in ("GET", "HEAD"):
        return error(405, "the softphone page is read-only")
    path = url.partition("?")[0]
    if path == "/index.html":
        path = "/"
    if path not in FILES:
        return error(404, "not found; the softphone page is at /")
    if path not in _cache:
        file, content_type = FILES[path]
        try:
            _cache[path] = HttpResponse(200, file.read_text(encoding="utf-8"), content_type)
        except OSError:
            return error(503, f"{file.name} is missing: run ./edge setup")
    return _cache[path]
