"""Dialog events: agents named on a call (its CallRecord) are in-call while it lasts."""

from __future__ import annotations

import time

from kemi_app.sip.callstate import CallRecord
from kemi_app.sip.context import Context, pv


def track_agents(ctx: Context, record: CallRecord, evname: str) -> None:
    if not record.org or not record.agents:
        return
    key = pv("$dlg(callid)") or pv("$ci")
    # One Call-ID can carry successive dialogs (a transferee re-using it): the tags tell them apart.
    dialog = f"{key}|{pv('$dlg(from_tag)')}|{pv('$dlg(to_tag)')}"
    if evname == "dialog:start":  # confirmed by a 2xx
        ctx.state.calls_started(record.org, record.agents, key, time.time(), node=ctx.settings.node_uri,
                                dialog=dialog)
    elif evname in ("dialog:end", "dialog:failed"):  # BYE, dialog timeout, or never answered
        ctx.state.calls_ended(record.org, record.agents, key, time.time(), node=ctx.settings.node_uri,
                              dialog=dialog)
