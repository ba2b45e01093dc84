"""The rtpengine pool's health, checked every second by the reconcile timer (one process).

Each member is asked for its uptime over the ng protocol (the ping). A missed ping takes it
out at once for every worker (the rtpengine module's disabled flag lives in shared memory,
and new calls pick among the members not disabled); a member that answers again is put back.
After DEAD_AFTER_MISSES missed pings in a row, or when its uptime shows it started again
since the last answer (restarted in between), its calls' media is gone: each such call is
ended (BYE to both sides, its end recorded like any other), with a `media-lost` event in its
history, a log line and edge_media_calls_lost_total. With a single rtpengine nothing is done
here: there is nowhere else for calls to go, and the module and the breaker already handle
its outages.
"""

from __future__ import annotations

import time

import KSR

from kemi_app import metrics
from kemi_app.policy.attendance import MEDIA_LOST, Event
from kemi_app.policy.media_pool import Health, after_ping
from kemi_app.rtpengine_ng import command as ng_command
from kemi_app.sip import dialogs, rpc
from kemi_app.sip.callstate import MEDIA_PROFILE
from kemi_app.sip.context import Context
from kemi_app.sip.vanish import SIDES

PING_TIMEOUT = 0.3

_health: dict[int, Health] = {}


def check(ctx: Context) -> None:
    pool = ctx.settings.media_pool
    if len(pool) < 2:
        return
    for index, member in enumerate(pool):
        change = after_ping(_health.get(index, Health()), started_at(member.ng))
        _health[index] = change.health
        url = f"udp:{member.ng}"
        if change.take_out:
            KSR.warn(f"media: rtpengine {member.ng} missed a ping: no new calls on it\n")
            _enable(url, False)
        if change.put_back:
            KSR.notice(f"media: rtpengine {member.ng} answers again: it takes new calls\n")
            _enable(url, True)
        if change.dead:
            end_lost_calls(ctx, index, member.ng)


def started_at(ng: str) -> float | None:
    """When the instance started (now - its uptime), or None when it does not answer."""
    try:
        stats = ng_command(ng, {"command": "statistics"}, PING_TIMEOUT).get("statistics")
        return time.time() - int(stats["totalstatistics"]["uptime"])  # type: ignore[index]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _enable(url: str, on: bool) -> None:
    try:
        rpc.call("rtpengine.enable", url, 1 if on else 0)
    except rpc.RpcError as e:  # enabling pings it first: it may have died again meanwhile
        KSR.info(f"media: rtpengine.enable {url} {int(on)}: {e}\n")


def end_lost_calls(ctx: Context, index: int, ng: str) -> None:
    listed = rpc.call("dlg.profile_list", MEDIA_PROFILE, str(index)) or []
    calls: list[dict] = listed if isinstance(listed, list) else [listed]
    if not calls:
        return
    metrics.media_calls_lost(ng, len(calls))
    KSR.err(f"media: rtpengine {ng} is dead; ending the {len(calls)} call(s) whose media it held: "
            f"{', '.join(str(c.get('call-id', '')) for c in calls[:10])}\n")
    now = time.time()
    try:
        ctx.state.history.record_events(*(
            Event(att.id, MEDIA_LOST, now, att.org, result="call ended", reason=f"rtpengine {ng} stopped answering",
                  call_id=dlg.get("call-id", ""))
            for dlg in calls
            if (att := ctx.state.history.attendance_by_call(dlg.get("call-id", ""))) is not None
        ))
    except Exception as e:  # Redis down: the calls are still ended, the log line above says why
        KSR.err(f"media: media-lost events not recorded: {e!r}\n")
    for dlg in calls:
        call_id = str(dlg.get("call-id", ""))
        tags = [dlg.get(s, {}).get("tag", "") for s in SIDES]
        if KSR.dialog.dlg_get(call_id, *tags) <= 0:
            continue
        dialogs.on_event(ctx, "dialog:end")
        for side in SIDES:
            if KSR.dialog.dlg_bye(side) <= 0:
                _bye_through_tm(dlg, side)


def _bye_through_tm(dlg: dict, side: str) -> None:
    """The dialog module sends no BYE once the other side's BYE was answered (that reply,
    handled by another worker, can end the dialog first): that side's BYE goes through tm,
    built from the dialog as dlg.profile_list gives it."""
    this, other = dlg.get(side, {}), dlg.get(SIDES[1] if side == SIDES[0] else SIDES[0], {})
    ours, theirs = (dlg.get("to_uri"), dlg.get("from_uri")) if side == "caller" else (dlg.get("from_uri"),
                                                                                      dlg.get("to_uri"))
    route = f"Route: {this['route_set']}\r\n" if this.get("route_set") else ""
    headers = (f"From: <{ours}>;tag={other.get('tag', '')}\r\nTo: <{theirs}>;tag={this.get('tag', '')}\r\n"
               f"Call-ID: {dlg.get('call-id', '')}\r\nCSeq: {int(other.get('cseq') or 0) + 1} BYE\r\n"
               f"{route}Max-Forwards: 70\r\n")
    if KSR.tm.t_uac_send("BYE", this.get("contact", ""), "", this.get("socket", ""), headers, "") < 0:
        KSR.err(f"media: BYE to the {side} of call-id={dlg.get('call-id', '')} failed\n")
