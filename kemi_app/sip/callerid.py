"""Caller ID toward carriers, masked customer numbers toward agents, and the headers that
never reach a carrier (decisions in policy/callerid.py).

From is rewritten with the uac module: it remembers the original in dialog variables and
restores it in replies and in-dialog requests both ways, so each side keeps seeing the
dialog as it started it.
"""

from __future__ import annotations

import KSR

from kemi_app.extensions import is_service_ext
from kemi_app.policy.callerid import (
    CALLER_ID_HEADER,
    CUSTOMER_IDENTITY_HEADERS,
    TOWARD_CARRIER_STRIPPED,
    Identity,
    masked_identity,
    outbound_identity,
    presented_did,
    privacy_asked,
    stripped_toward_carrier,
)
from kemi_app.provisioning.company import Company
from kemi_app.sip.callstate import CallRecord, Transaction
from kemi_app.sip.context import Context, pv

CALLER, CALLEE = "caller", "callee"


def _host(ctx: Context) -> str:
    return ctx.settings.advertise_addr or ctx.settings.sip_addr


def outbound(ctx: Context, org_id: str, caller: str, company: Company, emergency: bool) -> Identity | None:
    """Request route of an agent's call to the carriers: what it presents; None when the
    phone asked for a queue's DID it may not use. The queue is read only when asked for."""
    asked = pv(f"$hdr({CALLER_ID_HEADER})").strip()
    queue = ctx.state.directory.get_service(org_id, asked) if is_service_ext(asked) else None
    did = presented_did(company, caller, asked, queue)
    if did is None:
        return None
    return outbound_identity(company, did, _host(ctx), privacy_asked(pv("$hdr(Privacy)")), emergency)


def carrier_side(ctx: Context, to_carrier: bool, from_carrier: bool | None = None) -> str:
    """Which leg of a new call is a carrier: the callee of an outbound call, the caller when the
    INVITE comes from a gateway (a customer's call, or a transferred customer). `from_carrier`:
    whether it does, when the caller knows already (None: looked up)."""
    if to_carrier:
        return CALLEE
    if from_carrier is None:
        from_carrier = ctx.state.lookups.gateway_from(pv("$si"), int(pv("$sp") or 0)) is not None
    return CALLER if from_carrier else ""


def present(identity: Identity) -> None:
    """Request route, before the first gateway is tried: the agent's own identity and inside
    details go, the company's identity comes in (kept by every failover branch)."""
    strip_toward_carrier()
    KSR.uac.uac_replace_from(identity.display, identity.uri)
    for header in identity.headers():
        KSR.hdr.append(header + "\r\n")


def strip_toward_carrier() -> None:
    """Removes by name what the headers hold of TOWARD_CARRIER_STRIPPED (usually nothing); the
    expression is matched in Python, compiled once. Headers that are not UTF-8: by textops."""
    try:
        headers = KSR.pv.get("$msg(hdrs)")
    except UnicodeDecodeError:
        KSR.textops.remove_hf_re(TOWARD_CARRIER_STRIPPED)
        return
    for name in stripped_toward_carrier(str(headers or "")):
        KSR.hdr.remove(name)


def on_branch(ctx: Context, record: CallRecord, tx: Transaction) -> None:
    """Branch route: a customer's call reaching an agent shows the number as the agent's
    company wants it (queue offers and transferred customers alike). Called only for
    transactions of customers' calls (Transaction.customer_caller)."""
    agent = tx.offered or (record.agents[0] if record.agents else "")
    if record.carrier_side != CALLER or not agent or not ctx.state.lookups.org_masks(record.org):
        return
    company = ctx.state.lookups.company_for_agent(record.org, agent)
    identity = masked_identity(pv("$fU"), _host(ctx), company)
    if identity is None:
        return
    for name in CUSTOMER_IDENTITY_HEADERS:
        KSR.hdr.remove(name)
    KSR.uac.uac_replace_from(identity.display, identity.uri)


def on_reply(record: CallRecord) -> None:
    """tm reply route: an agent's answer to a customer's call leaves its phone's details here."""
    if record.carrier_side == CALLER:
        strip_toward_carrier()


def in_dialog(record: CallRecord) -> None:
    """In-dialog requests toward the carrier leg lose the same headers as the first INVITE."""
    if not record.carrier_side:
        return
    downstream = KSR.rr.is_direction("downstream") > 0
    if downstream == (record.carrier_side == CALLEE):
        strip_toward_carrier()
