"""KEMI entry object: Kamailio calls these methods for every message and event.

Every route is wrapped: an exception is logged with the Call-ID and the request answered
with 500, so a worker never crashes and no request is left unanswered.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable

import KSR

from kemi_app import metrics
from kemi_app.admin.app import AdminApp
from kemi_app.admin.router import error
from kemi_app.sip import attendances, carriers, connections, dialog_guard, flood, inbound, media, queues, transfers
from kemi_app.sip.calls import handle_initial
from kemi_app.sip.callstate import CallRecord, Transaction
from kemi_app.sip.context import Context, log_ctx, pv, reply
from kemi_app.sip.dialogs import track_agents
from kemi_app.sip.http import handle_http
from kemi_app.sip.nat import fix_contact, route_by_alias
from kemi_app.sip.registrar import handle_register
from kemi_app.sip.stats import kamailio_families
from kemi_app.sip.vanish import on_connection_closed

MAX_FORWARDS = 70
FIRST_SIP_WORKER = 1  # child_init rank of exactly one process per Kamailio start
INITIAL_METHODS = ("INVITE", "MESSAGE")
ALLOW = "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, REFER, MESSAGE"


def _guard(name: str, body: Callable[[], None], on_error: Callable[[], None]) -> int:
    try:
        body()
    except Exception:
        metrics.route_exception(name)
        KSR.err(f"{name}: unhandled error {log_ctx()}: {traceback.format_exc()!r}\n")
        try:
            on_error()
        except Exception:
            KSR.err(f"{name}: could not answer the error {log_ctx()}\n")
    return 1


def _count_final(status: int) -> None:
    record = CallRecord.load()
    metrics.call_final(record.org, record.kind, status)


def _answer_500() -> None:
    if KSR.is_ACK() < 0:
        reply(500, "Internal Server Error")


class EdgeRoutes:
    def __init__(self) -> None:
        self.ctx: Context | None = None
        self.admin: AdminApp | None = None

    def child_init(self, rank: int) -> int:
        # Redis connections are per process: a socket shared across fork gets corrupted.
        self.ctx = Context.create()
        if rank == FIRST_SIP_WORKER:
            self._forget_lost_calls()
        self.admin = AdminApp(self.ctx.settings, self.ctx.state, kamailio_families,
                              lambda att, org: transfers.transfer_org_by_api(self._ctx(), att, org))
        return 0

    def _forget_lost_calls(self) -> None:
        """Once per start: calls this node tracked before a restart have no dialog any more."""
        ctx = self._ctx()
        try:
            dropped = ctx.state.forget_node_calls(ctx.settings.node_uri)
        except Exception as e:  # Redis down at start: presence may show stale calls until their TTL
            KSR.err(f"could not forget the calls of a previous run: {e!r}\n")
            return
        if dropped:
            KSR.notice(f"forgot {dropped} call record(s) of dialogs lost in a restart\n")

    # -- SIP --------------------------------------------------------------------
    def ksr_request_route(self, msg: object) -> int:
        start = time.perf_counter()
        rc = _guard("request_route", self._request, _answer_500)
        metrics.request_seconds(pv("$rm"), time.perf_counter() - start)
        return rc

    def ksr_reply_route(self, msg: object) -> int:
        def body() -> None:
            if KSR.tm.t_check_trans() <= 0:
                # Not an answer to a request this edge relayed: never sent on by its Via.
                metrics.sip_refused("stray_response")
                KSR.set_drop()
                return
            if 100 < int(pv("$rs") or 0) < 300:
                fix_contact()

        return _guard("reply_route", body, lambda: None)

    def ksr_onsend_route(self, msg: object) -> int:
        return 1

    def _request(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        if int(pv("$Rp") or 0) == ctx.settings.admin_port:
            reply(403, "SIP Not Served On Admin Port")
            return
        if flood.throttled(ctx):
            return
        if not connections.admit(ctx):
            return
        if KSR.maxfwd.process_maxfwd(MAX_FORWARDS) < 0:
            reply(483, "Too Many Hops")
            return
        if KSR.sanity.sanity_check_defaults() < 0:
            KSR.notice(f"malformed request dropped after sanity reply {log_ctx()}\n")
            return
        KSR.force_rport()
        if KSR.is_CANCEL() > 0:
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return
        if KSR.siputils.has_totag() > 0:
            self._in_dialog()
            return
        if KSR.is_ACK() > 0:
            # ACK to a negative final answer: absorbed by its transaction if there is one.
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return
        if KSR.tmx.t_precheck_trans() > 0:
            KSR.tm.t_check_trans()
            return
        if KSR.tm.t_check_trans() == 0:
            return
        # Initial requests: we are the agents' only proxy, preloaded routes are not honoured.
        KSR.hdr.remove("Route")
        method = pv("$rm")
        if method == "INVITE" and transfers.on_transfer_invite(ctx):
            return
        if method != "REGISTER" and inbound.from_carrier(ctx):
            return
        if method == "REGISTER":
            handle_register(ctx)
        elif method in INITIAL_METHODS:
            handle_initial(ctx)
        elif method == "OPTIONS" and KSR.is_myself_ruri() > 0 and not pv("$rU"):
            reply(200, "OK", (ALLOW,))
        else:
            reply(405, "Method Not Allowed", (ALLOW,))

    def _in_dialog(self) -> None:
        if not dialog_guard.ours(self._ctx()):
            # Not a dialog this edge made: never relayed (an ACK for a refusal is absorbed).
            if KSR.is_ACK() > 0:
                KSR.tm.t_check_trans()
            elif KSR.hdr.is_present("Route") > 0:
                metrics.sip_refused("foreign_dialog")
                reply(403, "Not A Dialog Of This Edge")
            else:
                reply(404, "Not Here")
            return
        if KSR.rr.loose_route() > 0:
            if pv("$rm") == "REFER" and transfers.on_refer(self._ctx()):
                return
            route_by_alias()
            if pv("$rm") in ("INVITE", "UPDATE"):  # re-INVITE and UPDATE carry a fresh Contact
                fix_contact()
                media.offer_in_dialog(self._ctx())
            if KSR.tm.t_relay() < 0:
                KSR.sl.sl_reply_error()
            return
        reply(404, "Not Here")

    # -- events -------------------------------------------------------------------
    def ksr_xhttp_event(self, msg: object, evname: str) -> int:
        def body() -> None:
            assert self.ctx is not None and self.admin is not None
            handle_http(self.ctx, self.admin)

        def fail() -> None:
            resp = error(500, "internal error")
            KSR.xhttp.xhttp_reply(resp.status, resp.reason, resp.content_type, resp.body)

        return _guard("xhttp", body, fail)

    def ksr_websocket_event(self, msg: object, evname: str) -> int:
        return 1

    def ksr_tcp_event(self, msg: object, evname: str) -> int:
        """tcp:closed, tcp:reset, tcp:timeout: a WebSocket agent's connection is gone."""

        def body() -> None:
            assert self.ctx is not None
            connections.released()
            on_connection_closed(self.ctx)

        return _guard("tcp", body, lambda: None)

    def ksr_dialog_event(self, msg: object, evname: str) -> int:
        def body() -> None:
            record = CallRecord.load()
            if evname == "dialog:start":  # confirmed by a 2xx: the call is answered
                metrics.call_final(record.org, record.kind, 200)
            if evname in ("dialog:end", "dialog:failed"):
                media.end_call(self._ctx(), pv("$dlg(callid)") or pv("$ci"))
            track_agents(self._ctx(), record, evname)
            attendances.on_dialog_event(self._ctx(), record, evname)

        return _guard("dialog", body, lambda: None)

    def ksr_call_failure(self, msg: object) -> int:
        """Failure route of tracked calls: every branch failed; count the final status."""

        def body() -> None:
            _count_final(int(pv("$T_reply_code") or 0))

        return _guard("call_failure", body, lambda: None)

    # -- tm routes armed by the relay path (names in kemi_app.sip.tmroutes) -----------------
    def ksr_branch_media(self, msg: object) -> int:
        def body() -> None:
            tx = Transaction.load()
            queues.on_branch(tx)
            media.on_branch(self._ctx(), tx)

        return _guard("branch_media", body, KSR.set_drop)

    def ksr_onreply_media(self, msg: object) -> int:
        """Replies of calls, in one place: who rings, which queue member answered, the media."""

        def body() -> None:
            ctx, record, tx = self._ctx(), CallRecord.load(), Transaction.load()
            attendances.on_reply(ctx, record, tx)
            queues.on_reply(ctx, record, tx)
            media.on_reply(ctx, record, tx)
            record.save()
            tx.save()

        return _guard("onreply_media", body, lambda: None)

    def ksr_queue_failure(self, msg: object) -> int:
        """Failure route of queue calls: the next member, the overflow, or the final status."""

        def body() -> None:
            final = queues.on_failure(self._ctx())
            if final is not None:
                _count_final(final)

        return _guard("queue_failure", body, lambda: KSR.tm.t_reply(500, "Internal Server Error"))

    def _ctx(self) -> Context:
        assert self.ctx is not None
        return self.ctx

    def ksr_gateway_failure(self, msg: object) -> int:
        """Failure route of carrier calls: fail over to the next gateway, or count the end."""

        def body() -> None:
            final = carriers.next_attempt(self._ctx())
            if final is not None:
                _count_final(final)

        return _guard("gateway_failure", body, lambda: KSR.tm.t_reply(500, "Internal Server Error"))
