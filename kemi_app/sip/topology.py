"""Topology hiding toward carriers. The topoh module (kamailio.cfg) encodes the Via,
Record-Route and Contact of a message it may mask into parameters of the edge's own address,
and decodes them when the carrier's requests and replies come back; this decides which
messages: only those sent to a carrier gateway. Agents, peers and services see SIP as is.
"""

from __future__ import annotations

import KSR

from kemi_app.sip.context import Context, pv


def toward_carrier(ctx: Context) -> bool:
    return ctx.state.lookups.gateway_from(pv("$sndto(ip)"), int(pv("$sndto(port)") or 0)) is not None


def on_sending(ctx: Context) -> None:
    """topoh:msg-sending, for every message Kamailio sends: a drop leaves it unmasked."""
    if not toward_carrier(ctx):
        KSR.set_drop()
