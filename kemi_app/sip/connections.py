"""Per-source limit of TCP and WebSocket connections. A connection counts against its source
address from its first SIP message or WebSocket handshake until tcpops reports it closed;
over EDGE_TCP_PER_SOURCE the new connection is closed unanswered. A connection an agent
registered over lives as long as its binding, and a WebSocket one names its agent for when it
closes (sip/vanish.py). These tables live in Kamailio's shared memory (htable): no Redis on
this path. Only this node sees its connections close, and a restart drops them all."""

from __future__ import annotations

import KSR

from kemi_app import metrics
from kemi_app.sip.context import Context, pv
from kemi_app.sip.flood import from_tls_terminator

COUNTED = "tcpconn"  # peer ip:port -> 1 while its connection is counted
PER_SOURCE = "tcpsrc"  # source ip -> connections counted
OWNERS = "wsagent"  # peer ip:port -> "org:ext" of the agent registered over that WebSocket
REGISTERED_MARGIN = 60  # seconds past a binding's expiry: its refresh arrives before


def _peer() -> str:
    return f"{pv('$si')}:{pv('$sp')}"


def admit(ctx: Context) -> bool:
    """False after closing the connection this message came on: its source has too many."""
    limit = ctx.settings.tcp_per_source
    if limit <= 0 or pv("$pr").lower() == "udp" or from_tls_terminator(ctx):
        return True
    if KSR.htable.sht_get(COUNTED, _peer()) is not None:
        return True
    source = pv("$si")
    if _count_in(source) > limit:
        KSR.htable.sht_dec(PER_SOURCE, source)
        metrics.sip_refused("connection_limit")
        KSR.notice(f"too many connections from {source}: closing {_peer()}\n")
        KSR.tcpops.tcp_close_connection()
        return False
    KSR.htable.sht_seti(COUNTED, _peer(), 1)
    return True


def _count_in(source: str) -> int:
    """Counts one more connection of source; returns its count (sht_inc creates no item)."""
    count = KSR.htable.sht_get(PER_SOURCE, source)
    if count is None:
        KSR.htable.sht_seti(PER_SOURCE, source, 1)
        return 1
    KSR.htable.sht_inc(PER_SOURCE, source)
    return int(count) + 1


def released() -> None:
    """tcp:closed/reset/timeout: the connection no longer counts against its source."""
    peer = _peer()
    if KSR.htable.sht_get(COUNTED, peer) is None:
        return
    KSR.htable.sht_rm(COUNTED, peer)
    KSR.htable.sht_dec(PER_SOURCE, pv("$si"))


def keep_registered(org_id: str, ext: str, ttl: int) -> None:
    """The agent's binding over this connection lasts `ttl` seconds: so does the connection
    (unregistered ones close after Kamailio's shorter tcp_connection_lifetime of idleness)."""
    if pv("$pr").lower() == "udp":
        return
    KSR.tcpops.tcp_set_connection_lifetime(ttl + REGISTERED_MARGIN)
    if KSR.is_WSX() > 0:
        KSR.htable.sht_setxs(OWNERS, _peer(), f"{org_id}:{ext}", max(1, ttl))


def closed_owner(peer: str) -> tuple[str, str] | None:
    """The agent (org, ext) registered over the WebSocket connection from `peer` that just
    closed, told once."""
    owner = KSR.htable.sht_get(OWNERS, peer)
    if not isinstance(owner, str):
        return None
    KSR.htable.sht_rm(OWNERS, peer)
    org_id, _, ext = owner.partition(":")
    return org_id, ext
