"""Dialog events: agents named on a call (its CallRecord) are in-call while it lasts; an
answered call is counted, and an ended one frees its media and closes its history."""

from __future__ import annotations

import time

import KSR

from kemi_app import metrics
from kemi_app.dependency import DependencyDown
from kemi_app.sip import attendances, media, orgtransfer, recordings, supervision
from kemi_app.sip.callstate import CallRecord
from kemi_app.sip.context import Context, log_ctx, pv
from kemi_app.state.agentstate import CallEnd, CallsChange


def on_event(ctx: Context, evname: str) -> None:
    """dialog:start (answered), dialog:end (over) or dialog:failed (never answered). The end is
    handled once: a vanished agent's call is ended before its BYE leaves (sip/vanish.py), and
    the dialog module may still raise dialog:end after that BYE."""
    record = CallRecord.load()
    if record.handover:
        return  # the node that anchors the call records it (sip/cluster.py)
    call_id = pv("$dlg(callid)") or pv("$ci")
    ended = evname in ("dialog:end", "dialog:failed")
    if evname == "dialog:start":  # confirmed by a 2xx: the call is answered
        metrics.call_final(record.org, record.kind, 200)
        recordings.on_answer(ctx, record, call_id)
    if ended:
        if record.over:
            return
        record.over = True
        record.save()
        media.end_call(ctx, call_id, record.media_set)
    try:
        # The agents' calls in progress and the history's answer or end: handed to the history
        # writer, which stops the call's supervision and recording (call_over) once written.
        end = ctx.state.dialog_events.record(calls_change(ctx, record, evname, call_id),
                                             *attendances.dialog_events(record, evname),
                                             ended_call=call_id if ended else "")
        call_over(ctx, call_id, end)  # written here (the writer's queue was full): stopped here
    except DependencyDown as e:  # the periodic reconcile ends the call records later
        KSR.notice(f"{evname} not recorded, {e} {log_ctx()}\n")
    if record.org_transfer:
        orgtransfer.on_new_call(ctx, record.org_transfer, evname)


def call_over(ctx: Context, call_id: str, end: CallEnd) -> None:
    """The call ended: its supervisors are hung up, its recording stops."""
    if end.supervisors:
        supervision.call_ended(ctx, end.supervisors)
    if end.recorded:
        recordings.on_call_end(ctx, end.recorded, call_id)


def calls_change(ctx: Context, record: CallRecord, evname: str, key: str) -> CallsChange | None:
    """The agents on the call (`key`: its Call-ID) are in-call from its answer (dialog:start) to
    its end (dialog:end after a BYE or timeout, dialog:failed when never answered)."""
    if not record.org or not record.agents or evname not in ("dialog:start", "dialog:end", "dialog:failed"):
        return None
    # One Call-ID can carry successive dialogs (a transferee re-using it): the tags tell them apart.
    # On dialog:start the dialog module has not stored the callee's tag yet: the 2xx has it.
    dialog = f"{key}|{pv('$dlg(from_tag)')}|{pv('$dlg(to_tag)') or pv('$tt')}"
    return CallsChange(record.org, record.agents, key, time.time(), started=evname == "dialog:start",
                       node=ctx.settings.node_uri, dialog=dialog)
