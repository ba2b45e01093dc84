"""Periodic reconcile (rtimer, one process): call records in Redis and rtpengine sessions
are checked against the dialog module's live dialogs, and what outlived its dialog goes.

This is how a dialog end that could not be written (Redis down) or a media delete that could
not be sent (rtpengine down) is made good once the dependency is back."""

from __future__ import annotations

import time

import KSR

from kemi_app.dependency import DependencyDown
from kemi_app.policy.reconcile import Dialog, orphan_sessions, phantom_records
from kemi_app.rtpengine_ng import command as ng_command
from kemi_app.sip import rpc
from kemi_app.sip.context import Context

MAX_SESSIONS = 100000  # rtpengine lists 32 calls unless told otherwise
NG_TIMEOUT = 2.0  # this process serves no request: it can wait for a busy rtpengine


def live_dialogs() -> list[Dialog]:
    rows = rpc.call("dlg.briefing", "cs") or []
    listed = rows if isinstance(rows, list) else [rows]
    return [Dialog(str(r.get("call-id", "")), int(r.get("state", 0))) for r in listed if isinstance(r, dict)]


def _media_sessions(ctx: Context) -> list[str] | None:
    try:
        answer = ng_command(ctx.settings.rtpengine_ng, {"command": "list", "limit": MAX_SESSIONS}, NG_TIMEOUT)
    except (OSError, ValueError) as e:
        KSR.info(f"reconcile: rtpengine not listed: {e}\n")
        return None
    calls = answer.get("calls", [])
    return [c.decode() if isinstance(c, bytes) else str(c) for c in calls] if isinstance(calls, list) else []


def reconcile(ctx: Context) -> None:
    node = ctx.settings.node_uri
    # Records and sessions first, dialogs after: anything listed before a dialog vanished
    # from the dialog list had that dialog end (see policy.reconcile).
    try:
        members = ctx.state.agents.node_call_records(node)
    except DependencyDown:
        members = None
    sessions = _media_sessions(ctx)
    if members is None and sessions is None:
        return
    dialogs = live_dialogs()
    if members:
        phantoms = phantom_records(members, dialogs)
        if phantoms:
            ctx.state.agents.drop_call_records(node, phantoms, time.time())
            KSR.notice(f"reconcile: dropped {len(phantoms)} call record(s) without a dialog: "
                       f"{', '.join(p.member for p in phantoms[:10])}\n")
    if ctx.settings.peers:
        # The rtpengine is shared with other nodes, whose dialogs this node cannot see: their
        # sessions are not orphans. rtpengine's own timeout (no media) frees what leaks.
        return
    for call_id in orphan_sessions(sessions or [], dialogs):
        ng_command(ctx.settings.rtpengine_ng, {"command": "delete", "call-id": call_id}, NG_TIMEOUT)
        KSR.notice(f"reconcile: deleted rtpengine session without a dialog: call-id={call_id}\n")
