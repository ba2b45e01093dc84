"""Dialog events: agents named on a call (its CallRecord) are in-call while it lasts; an
answered call is counted, and an ended one frees its media and closes its history."""

from __future__ import annotations

import time

import KSR

from kemi_app import metrics
from kemi_app.dependency import DependencyDown
from kemi_app.sip import attendances, media
from kemi_app.sip.callstate import CallRecord
from kemi_app.sip.context import Context, log_ctx, pv


def on_event(ctx: Context, evname: str) -> None:
    """dialog:start (answered), dialog:end (over) or dialog:failed (never answered). The end is
    handled once: a vanished agent's call is ended before its BYE leaves (sip/vanish.py), and
    the dialog module may still raise dialog:end after that BYE."""
    record = CallRecord.load()
    if evname == "dialog:start":  # confirmed by a 2xx: the call is answered
        metrics.call_final(record.org, record.kind, 200)
    if evname in ("dialog:end", "dialog:failed"):
        if record.over:
            return
        record.over = True
        record.save()
        media.end_call(ctx, pv("$dlg(callid)") or pv("$ci"))
    try:
        track_agents(ctx, record, evname)
        attendances.on_dialog_event(ctx, record, evname)
    except DependencyDown as e:  # the periodic reconcile ends the call records later
        KSR.notice(f"{evname} not recorded, {e} {log_ctx()}\n")


def track_agents(ctx: Context, record: CallRecord, evname: str) -> None:
    if not record.org or not record.agents:
        return
    key = pv("$dlg(callid)") or pv("$ci")
    # One Call-ID can carry successive dialogs (a transferee re-using it): the tags tell them apart.
    dialog = f"{key}|{pv('$dlg(from_tag)')}|{pv('$dlg(to_tag)')}"
    if evname == "dialog:start":  # confirmed by a 2xx
        ctx.state.agents.calls_started(record.org, record.agents, key, time.time(), node=ctx.settings.node_uri,
                                dialog=dialog)
    elif evname in ("dialog:end", "dialog:failed"):  # BYE, dialog timeout, or never answered
        ctx.state.agents.calls_ended(record.org, record.agents, key, time.time(), node=ctx.settings.node_uri,
                              dialog=dialog)
