"""Dialog events: agents named on a call (see relay.track_call) are in-call while it lasts."""

from __future__ import annotations

import time

from kemi_app.sip.context import Context, pv


def track_agents(ctx: Context, evname: str) -> None:
    org = pv("$dlg_var(org)")
    exts = [ext for ext in pv("$dlg_var(agents)").split(",") if ext]
    if not org or not exts:
        return
    key = pv("$dlg(callid)") or pv("$ci")
    # One Call-ID can carry successive dialogs (a transferee re-using it): the tags tell them apart.
    dialog = f"{key}|{pv('$dlg(from_tag)')}|{pv('$dlg(to_tag)')}"
    if evname == "dialog:start":  # confirmed by a 2xx
        ctx.state.calls_started(org, exts, key, time.time(), node=ctx.settings.node_uri, dialog=dialog)
    elif evname in ("dialog:end", "dialog:failed"):  # BYE, dialog timeout, or never answered
        ctx.state.calls_ended(org, exts, key, time.time(), node=ctx.settings.node_uri, dialog=dialog)
