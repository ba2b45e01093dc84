"""Per-source rate limit: pike counts requests per source address; a flooding source is put
on a ban list (an htable whose entries expire) and its requests are dropped unanswered."""

from __future__ import annotations

import KSR

from kemi_app import metrics
from kemi_app.sip.context import Context, pv

BANS = "flood"  # htable of banned sources (kamailio.cfg: autoexpire)
NEWLY_DETECTED = -2  # pike_check_req: this request made the source a flooder


def from_tls_terminator(ctx: Context) -> bool:
    """WSS arrives through haproxy on the edge's own address: every browser would look like one
    source here, so haproxy limits connections per real source instead (edgeops/tls.py)."""
    return pv("$si") == ctx.settings.sip_addr and int(pv("$Rp") or 0) == ctx.settings.ws_port


def from_itself(ctx: Context) -> bool:
    """The node's own requests (a waiting call's parking INVITE, sip/queues.py) are as many
    as calls wait: never a flood."""
    return pv("$si") == ctx.settings.sip_addr and int(pv("$sp") or 0) == ctx.settings.sip_port


def throttled(ctx: Context) -> bool:
    """True when the request must be dropped: its source floods or is banned."""
    if ctx.settings.flood_limit <= 0:
        return False
    source = pv("$si")
    if source == ctx.settings.sip_addr and (from_tls_terminator(ctx) or from_itself(ctx)):
        return False
    if source in ctx.settings.peer_hosts:  # other edge nodes carry many agents' calls
        return False
    if KSR.htable.sht_get(BANS, source) is not None:
        metrics.sip_refused("banned")
        return True
    rc = KSR.pike.pike_check_req()
    if rc > 0:
        return False
    KSR.htable.sht_seti(BANS, source, 1)
    if rc == NEWLY_DETECTED:
        KSR.warn(f"flood from {source}: banned\n")
    metrics.sip_refused("flood")
    return True
