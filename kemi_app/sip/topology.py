"""Topology hiding toward carriers. The topoh module (kamailio.cfg) encodes the Via,
Record-Route and Contact of a message it may mask into parameters of the edge's own address,
and decodes them when the carrier's requests and replies come back; this decides which
messages: only those sent to a carrier gateway. Agents, peers and services see SIP as is.
"""

from __future__ import annotations

import KSR

from kemi_app.sip.context import Context, pv


def on_sending(ctx: Context) -> None:
    """topoh:msg-sending, for every message Kamailio sends, between tm's decision to relay a
    reply and the send: nothing here may wait (a 180 would reach the caller after the 200).
    A drop leaves the message unmasked."""
    if not ctx.state.lookups.known_gateway(pv("$sndto(ip)"), int(pv("$sndto(port)") or 0)):
        KSR.set_drop()
