"""xhttp events: WebSocket upgrades, the softphone page and the agent API on the WS listener,
the admin app on the admin listener."""

from __future__ import annotations

import KSR

from kemi_app import webpage
from kemi_app.admin import agent_api
from kemi_app.admin.agent_api import AgentApi
from kemi_app.admin.app import AdminApp
from kemi_app.admin.router import HttpRequest, HttpResponse, error
from kemi_app.sip import connections
from kemi_app.sip.context import Context, NotUtf8, pv

READ_HEADERS = ("authorization", "content-type", "x-edge-forwarded")


def _is_websocket_upgrade() -> bool:
    upgrade = pv("$hdr(Upgrade)").lower()
    connection = pv("$hdr(Connection)").lower()
    return upgrade == "websocket" and "upgrade" in connection


def _send(resp: HttpResponse) -> None:
    for header in resp.headers:
        KSR.hdr.append_to_reply(header + "\r\n")
    KSR.xhttp.xhttp_reply(resp.status, resp.reason, resp.content_type, resp.body)


def _body() -> str | None:
    """The request body, or None when it is not UTF-8 (the binding decodes it strictly)."""
    try:
        return pv("$rb")
    except NotUtf8:
        return None


def handle_http(ctx: Context, admin: AdminApp, agents: AgentApi) -> None:
    port = int(pv("$Rp") or 0)
    if port == ctx.settings.ws_port:
        if not connections.admit(ctx):
            return
        if _is_websocket_upgrade():
            KSR.websocket.handle_handshake()
            return
        if pv("$hu").startswith(agent_api.PREFIX + "/"):
            _send(_api_request() or agents.handle(_request(), pv("$si")))
            return
        _send(webpage.serve(pv("$rm"), pv("$hu")))
        return
    if port != ctx.settings.admin_port:
        _send(error(404, "not found"))
        return
    _send(_api_request() or admin.handle(_request()))


def _api_request() -> HttpResponse | None:
    """400 when the body is not UTF-8; None when the request can be read."""
    return error(400, "body is not valid UTF-8", "body") if _body() is None else None


def _request() -> HttpRequest:
    path, _, query = pv("$hu").partition("?")
    return HttpRequest(
        method=pv("$rm"),
        path=path,
        query=query,
        headers={name: pv(f"$hdr({name})") for name in READ_HEADERS},
        body=_body() or "",
    )
