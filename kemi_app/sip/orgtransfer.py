"""The API's inter-org transfer, for softphones that cannot send REFER: the edge sends the
REFER into the customer's call as the agent's side, and ends the agent's leg only once the
transfer succeeded.

The customer's phone tells how it went with NOTIFYs (RFC 3515) sent in that call toward the
agent's side: the edge answers them itself (the agent's phone never sent the REFER). A 2xx
sipfrag, or the answer of the customer's new call to the destination IVR, is success: the
agent's leg ends. A refusal (sipfrag >= 300, or the new call failing) leaves the customer's
call as it was. Either way the history and the API's status say what happened; the API
answers 202 at once and `GET /v1/calls/{id}/transfer-org` tells the outcome (an HTTP worker
is a SIP worker: it must not wait for the customer's phone). No word at all within
PENDING_SECONDS (the phone refused the REFER or ignored it) is a failure too.
"""

from __future__ import annotations

import time

import KSR

from kemi_app import metrics
from kemi_app.policy.attendance import TRANSFER, Event
from kemi_app.policy.interorg import Outcome, Rule, TransferRequest, Verdict
from kemi_app.policy.reconcile import CONFIRMED
from kemi_app.policy.transfer import (
    API_ACTOR,
    NO_WORD,
    Progress,
    edge_refer_to,
    notify_progress,
    progress_now,
    sipfrag_status,
)
from kemi_app.sip import dialogs, rpc  # dialogs imports this module too: used at call time only
from kemi_app.sip.callstate import handed_over
from kemi_app.sip.context import Context, log_ctx, pv, reply
from kemi_app.sip.transfers import claim_interorg, edge_hostport, interorg_verdict, refuse_interorg


def transfer_org_by_api(ctx: Context, att_id: str, org_id: str) -> TransferRequest:
    """Checks the rules, claims the attendance's one inter-org transfer and sends the REFER;
    what becomes of it is recorded as the customer's phone reports it (on_notify, finished)."""
    att = ctx.state.history.attendance(att_id)
    if att is not None and _timed_out(ctx, att_id):
        finished(ctx, att_id, Progress.FAILED, NO_WORD)
        att = ctx.state.history.attendance(att_id)  # its inter-org transfer given back
    if att is None:
        return TransferRequest(Outcome.NO_ATTENDANCE, att_id, org_id)
    destination = ctx.state.directory.get_org(org_id)
    if destination is None:
        return TransferRequest(Outcome.NO_ORG, att_id, org_id)
    verdict = interorg_verdict(ctx.state, att, destination)
    if not verdict.allowed:
        refuse_interorg(ctx, att, verdict, API_ACTOR, org_id)
        return TransferRequest(Outcome.REFUSED, att_id, org_id, verdict)
    dialog = _confirmed(att.customer_call)
    if dialog is None:
        return TransferRequest(Outcome.NO_CALL, att_id, org_id)
    token = claim_interorg(ctx, att, verdict, API_ACTOR, org_id)
    if not token:
        return TransferRequest(Outcome.REFUSED, att_id, org_id, Verdict(False, Rule.ALREADY_TRANSFERRED))
    cseq = int(dialog["callee"].get("cseq") or 0) + 1
    ctx.state.history.start_org_transfer(att.id, {
        "source_org": att.org, "org": org_id, "target": verdict.target_uri, "started": str(time.time()),
        "call_id": dialog["call-id"], "refer_cseq": str(cseq),
    })
    refer = (f"Refer-To: {edge_refer_to('ivr', edge_hostport(ctx), token)}\r\n"
             f"Referred-By: <sip:{API_ACTOR}@{edge_hostport(ctx)}>\r\n")
    if not _send_as_agent(ctx, dialog, "REFER", cseq, refer):
        finished(ctx, att.id, Progress.FAILED, "REFER not sent")
    return TransferRequest(Outcome.STARTED, att_id, org_id, verdict)


def _timed_out(ctx: Context, att_id: str) -> bool:
    """An earlier transfer asked for here that the customer's phone never reported on."""
    stored = ctx.state.history.org_transfer(att_id)
    if stored.get("status") != Progress.PENDING.value:
        return False
    return progress_now(Progress.PENDING, float(stored.get("started") or 0), time.time()) is Progress.FAILED


def on_notify(ctx: Context) -> bool:
    """An in-dialog NOTIFY: True when it reports on a pending transfer the API asked for
    (answered here), False for any other (relayed as usual: an agent's own REFER)."""
    if not pv("$hdr(Event)").strip().lower().startswith("refer"):
        return False
    call_id = pv("$ci")
    att = ctx.state.history.attendance_by_call(call_id)
    stored = ctx.state.history.org_transfer(att.id) if att is not None else {}
    if att is None or stored.get("call_id") != call_id or stored.get("status") != Progress.PENDING.value:
        return False
    reply(200, "OK")
    status = sipfrag_status(pv("$rb"))
    progress = notify_progress(status)
    if progress is not Progress.PENDING:
        finished(ctx, att.id, progress, f"customer's phone reported {status}")
    return True


def finished(ctx: Context, att_id: str, progress: Progress, reason: str) -> None:
    """Records how the transfer went, once; on success the agent's leg ends now, on failure
    the customer's call goes on as it was (and may be transferred again)."""
    transfer = ctx.state.history.finish_org_transfer(att_id, progress, reason, time.time())
    if not transfer:
        return  # told already (a NOTIFY and the new call's answer both say it)
    result, org = ("succeeded" if progress is Progress.SUCCEEDED else "failed"), transfer.get("source_org", "")
    ctx.state.history.record_events(Event(att_id, TRANSFER, time.time(), org, actor=API_ACTOR,
                                          target=transfer.get("org", ""), result=result, reason=reason,
                                          detail="interorg"))
    metrics.transfer(org, "interorg", result)
    if progress is Progress.SUCCEEDED:
        _end_old_call(ctx, transfer)


def _end_old_call(ctx: Context, transfer: dict[str, str]) -> None:
    """The transfer succeeded: the edge, as the agent's side, says BYE to the customer's old
    call (as it sent the REFER), and the dialog module ends the agent's leg. One BYE from the
    dialog module only: its BYE to both sides gives up on the second when the first one's 200
    has ended the dialog in between. The call's end (media, call records, history) is handled
    here: the dialog module raises dialog:end after its BYE only if no reply ended the dialog
    first (sip/vanish.py)."""
    call_id = transfer.get("call_id", "")
    dialog = _confirmed(call_id)
    if dialog is None:
        KSR.info(f"transfer-org: call-id={call_id} already ended {log_ctx()}\n")
        return
    cseq = max(int(transfer.get("refer_cseq") or 0), int(dialog["callee"].get("cseq") or 0)) + 1
    _send_as_agent(ctx, dialog, "BYE", cseq)
    if KSR.dialog.dlg_get(call_id, dialog["caller"]["tag"], dialog["callee"]["tag"]) <= 0:
        KSR.err(f"transfer-org: call-id={call_id} not found to end the agent's leg {log_ctx()}\n")
        return
    dialogs.on_event(ctx, "dialog:end")
    if KSR.dialog.dlg_bye("callee") <= 0:
        KSR.err(f"transfer-org: call-id={call_id} BYE to the agent failed {log_ctx()}\n")


def on_new_call(ctx: Context, source_att: str, evname: str) -> None:
    """Dialog event of the customer's new call to the destination IVR: answered is success,
    never answered a failure (the customer's phone may not have said so)."""
    if evname == "dialog:start":
        finished(ctx, source_att, Progress.SUCCEEDED, "new call answered")
    elif evname == "dialog:failed":
        finished(ctx, source_att, Progress.FAILED, "new call not answered")


def _confirmed(call_id: str) -> dict | None:
    """The answered dialog of a Call-ID, as the dialog module lists it."""
    if not call_id:
        return None
    try:
        found = rpc.call("dlg.dlg_list", call_id)
    except rpc.RpcError:
        return None
    dialogs = found if isinstance(found, list) else [found] if found else []
    # A node that only delivered the call for the node anchoring it leaves the transfer to that one.
    confirmed = [d for d in dialogs if isinstance(d, dict) and d.get("state") == CONFIRMED and not handed_over(d)]
    return confirmed[0] if confirmed else None


def _send_as_agent(ctx: Context, dialog: dict, method: str, cseq: int, headers: str = "") -> bool:
    """A request inside the customer's dialog, as if from the agent's side of it."""
    caller, callee = dialog["caller"], dialog["callee"]
    headers = (
        f"From: <{dialog['to_uri']}>;tag={callee['tag']}\r\n"
        f"To: <{dialog['from_uri']}>;tag={caller['tag']}\r\n"
        f"Call-ID: {dialog['call-id']}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Contact: <sip:{edge_hostport(ctx)}>\r\n"
        f"{headers}"
        "Max-Forwards: 70\r\n"
    )
    if KSR.tm.t_uac_send(method, caller["contact"], "", caller.get("socket", ""), headers, "") < 0:
        KSR.err(f"transfer: could not send {method} to {caller['contact']} {log_ctx()}\n")
        return False
    return True
