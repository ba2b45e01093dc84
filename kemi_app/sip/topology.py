"""Topology hiding toward carriers. The topoh module (kamailio.cfg) encodes the Via,
Record-Route and Contact of a message it may mask into parameters of the edge's own address,
and decodes them when the carrier's requests and replies come back. Only messages sent to a
carrier gateway are masked: agents, peers and services see SIP as is.

The decision runs for every message sent, between tm's decision to relay a reply and the
send: nothing there may wait on Redis (a 180 would reach the caller after the 200), and a
Python callback per message sent costs more than the rest of an ACK. So it is kamailio.cfg's
one event route, `topoh:msg-sending`: one lookup of the address sent to (`sip:ip:port`, as
Gateway.address) in a shared-memory htable that every process reads, which this module keeps.
A call to or from a gateway writes its address before anything is sent; the reconcile tick
rewrites every configured gateway each second; the table forgets an address a minute after
its last write (a gateway removed from the configuration).
"""

from __future__ import annotations

from collections.abc import Iterable

import KSR

from kemi_app.provisioning.gateway import Gateway
from kemi_app.sip.context import Context

GATEWAY_TABLE = "gateways"  # declared and read in kamailio.cfg (autoexpire): gateway address -> 1


def note(gateways: Iterable[Gateway]) -> None:
    for gateway in gateways:
        KSR.htable.sht_seti(GATEWAY_TABLE, gateway.address, 1)


def sync(ctx: Context) -> None:
    """At start and on every reconcile tick: the configured gateways stay in the table."""
    note(ctx.state.lookups.gateways())
