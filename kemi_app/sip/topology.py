"""Topology hiding toward carriers. The topoh module (kamailio.cfg) encodes the Via,
Record-Route and Contact of a message it may mask into parameters of the edge's own address,
and decodes them when the carrier's requests and replies come back; this decides which
messages: only those sent to a carrier gateway. Agents, peers and services see SIP as is.

The decision runs for every message sent, between tm's decision to relay a reply and the
send: nothing there may wait on Redis (a 180 would reach the caller after the 200). So the
gateways' addresses are in a shared-memory htable that every process reads. A call to or
from a gateway writes its address before anything is sent; the reconcile tick rewrites every
configured gateway each second; the table forgets an address a minute after its last write
(a gateway removed from the configuration).
"""

from __future__ import annotations

from collections.abc import Iterable

import KSR

from kemi_app.provisioning.gateway import Gateway
from kemi_app.sip.context import Context

GATEWAY_TABLE = "gateways"  # declared in kamailio.cfg (autoexpire): gateway address -> 1
# The table's entry for the address the message is sent to (sip:ip:port, as Gateway.address):
# Kamailio builds the key itself, one KSR call for every message sent.
_SENT_TO_GATEWAY = f"$sht({GATEWAY_TABLE}=>sip:$sndto(ip):$sndto(port))"


def on_sending() -> None:
    """topoh:msg-sending: a drop leaves the message unmasked."""
    if KSR.pv.get(_SENT_TO_GATEWAY) is None:
        KSR.set_drop()


def note(gateways: Iterable[Gateway]) -> None:
    for gateway in gateways:
        KSR.htable.sht_seti(GATEWAY_TABLE, gateway.address, 1)


def sync(ctx: Context) -> None:
    """At start and on every reconcile tick: the configured gateways stay in the table."""
    note(ctx.state.lookups.gateways())
