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
from kemi_app.admin.agent_api import AgentApi
from kemi_app.admin.app import AdminApp
from kemi_app.admin.router import error
from kemi_app.dependency import DependencyDown
from kemi_app.policy.cluster import HEARTBEAT_EVERY
from kemi_app.sip import (
    attendances,
    callerid,
    carriers,
    cluster,
    connections,
    dialog_guard,
    dialogs,
    flood,
    history,
    inbound,
    media,
    mediapool,
    orgtransfer,
    outage,
    queues,
    recordings,
    supervision,
    topology,
    transfers,
    vanish,
)
from kemi_app.sip.calls import handle_initial
from kemi_app.sip.callstate import CallRecord, Transaction
from kemi_app.sip.context import Context, NotUtf8, log_ctx, new_route, pv, pv_text, reply
from kemi_app.sip.flood import from_itself
from kemi_app.sip.http import handle_http
from kemi_app.sip.nat import fix_contact, route_by_alias
from kemi_app.sip.reconcile import reconcile
from kemi_app.sip.registrar import expire_registrations, handle_register
from kemi_app.sip.stats import kamailio_families
from kemi_app.sip.vanish import drain_closed_connections, queue_closed_connection

MAX_FORWARDS = 70
FIRST_SIP_WORKER = 1  # child_init rank of exactly one process per Kamailio start
INITIAL_METHODS = ("INVITE", "MESSAGE")
NEW_WORK = ("INVITE", "MESSAGE", "REGISTER")  # refused while the node drains
# Hop-by-hop (tm never relays it) and nothing acts on it: ringing is 180/183, media starts
# at 180, answers are 2xx. The reply route returns before reading any call state.
TRYING = 100
# With KEMI the dialog module calls back on every state change: the others (early, confirmed
# by the ACK) come as "unknown", and nothing acts on them.
DIALOG_EVENTS = frozenset(("dialog:start", "dialog:end", "dialog:failed"))
# In-dialog requests the edge may answer itself (_answered_here), and those that re-offer media.
ANSWERABLE = frozenset(("REFER", "INFO", "NOTIFY"))
REOFFERS = frozenset(("INVITE", "UPDATE"))
ENDS_AND_ACKS = frozenset(("ACK", "BYE"))
ALLOW = "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, REFER, MESSAGE, INFO"


def _guard(name: str, body: Callable[[], None], on_error: Callable[[Exception], None] = lambda e: None) -> int:
    """Runs a route: nothing escapes to Kamailio, every failure is logged with the Call-ID
    and handed to `on_error` (which answers a request). Logging itself cannot raise."""
    new_route()
    try:
        body()
    except NotUtf8 as e:
        KSR.notice(f"{name}: refused, {e} {log_ctx()}\n")
        _answer_error(name, on_error, e)
    except Exception as e:
        metrics.route_exception(name)
        KSR.err(f"{name}: unhandled error {log_ctx()}: {traceback.format_exc()!r}\n")
        _answer_error(name, on_error, e)
    finally:
        new_route()
    return 1


def _count_final(status: int) -> None:
    record = CallRecord.load()
    metrics.call_final(record.org, record.kind, status)


def _answer_error(name: str, on_error: Callable[[Exception], None], e: Exception) -> None:
    try:
        on_error(e)
    except Exception as again:
        KSR.err(f"{name}: could not answer the error {log_ctx()}: {again!r}\n")


def _answer_request_error(e: Exception) -> None:
    """ACK gets no answer; bytes that are not UTF-8 are the sender's fault (400)."""
    if KSR.is_ACK() > 0:
        return
    if isinstance(e, NotUtf8):
        reply(400, "Invalid UTF-8")
    else:
        reply(500, "Internal Server Error")


def _answer_tm_error(e: Exception) -> None:
    KSR.tm.t_reply(500, "Internal Server Error")


def _started() -> bool:
    return KSR.htable.sht_get(cluster.NODE_TABLE, "started") is not None


class EdgeRoutes:
    def __init__(self) -> None:
        self.ctx: Context | None = None
        self.admin: AdminApp | None = None
        self.agent_api: AgentApi | None = None
        self.next_reconcile = 0.0
        self.next_heartbeat = 0.0
        self.history_writer = history.Writer(dialogs.call_over)
        # Built once: the request route runs for every message.
        self._request_answering_503 = outage.answering_503(self._request)

    def child_init(self, rank: int) -> int:
        # Redis connections are per process: a socket shared across fork gets corrupted.
        self.ctx = Context.create(sip_worker=rank > 0)
        self.ctx.state.history.sink = history.HistoryQueue()
        self.agent_api = AgentApi(self.ctx.settings, self.ctx.state)
        if rank == FIRST_SIP_WORKER:
            self._announce()
            _guard("gateways", lambda: topology.sync(self._ctx()))  # before any call is relayed
            self._forget_lost_calls()
        self.admin = AdminApp(self.ctx.settings, self.ctx.state, kamailio_families,
                              lambda att, org: recordings.after_api_transfer(
                                  self._ctx(), orgtransfer.transfer_org_by_api(self._ctx(), att, org)),
                              lambda att, action: recordings.by_api(self._ctx(), att, action),
                              started=_started,
                              supervise=lambda *request: supervision.call_supervisor(self._ctx(), *request))
        return 0

    def _forget_lost_calls(self) -> None:
        """Once per start: calls this node tracked before a restart have no dialog any more."""
        ctx = self._ctx()
        try:
            dropped = ctx.state.agents.forget_node_calls(ctx.settings.node_uri)
        except Exception as e:  # Redis down at start: presence may show stale calls until their TTL
            KSR.err(f"could not forget the calls of a previous run: {e!r}\n")
        else:
            if dropped:
                KSR.notice(f"forgot {dropped} call record(s) of dialogs lost in a restart\n")
        finally:
            # /health reports Kamailio ready only now: nobody sees a previous run's calls as live.
            KSR.htable.sht_seti(cluster.NODE_TABLE, "started", 1)

    def _announce(self) -> None:
        """The first heartbeat, before any REGISTER can name this node (then the rtimer's)."""
        try:
            cluster.heartbeat(self._ctx())
        except Exception as e:
            KSR.err(f"first heartbeat not written: {e!r}\n")

    # -- SIP --------------------------------------------------------------------
    def ksr_request_route(self, msg: object) -> int:
        start = time.perf_counter()
        rc = _guard("request_route", self._request_answering_503, _answer_request_error)
        metrics.request_seconds(pv_text("$rm"), time.perf_counter() - start)
        return rc

    def ksr_reply_route(self, msg: object) -> int:
        def body() -> None:
            if KSR.tm.t_check_trans() <= 0:
                # Not an answer to a request this edge relayed: never sent on by its Via.
                metrics.sip_refused("stray_response")
                KSR.set_drop()
                return
            if pv("$ci").startswith(supervision.CONTACT_PREFIX):  # the edge called a supervisor
                supervision.on_reply(self._ctx())
                return
            if 100 < int(pv("$rs") or 0) < 300 and not cluster.from_peer(self._ctx()):
                fix_contact()

        return _guard("reply_route", body)

    def _request(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        # Every answer goes back where the request came from, never to an address its Via names.
        KSR.force_rport()
        if int(pv("$Rp") or 0) == ctx.settings.admin_port:
            reply(403, "SIP Not Served On Admin Port")
            return
        if flood.throttled(ctx):
            return
        if not connections.admit(ctx):
            return
        hops = KSR.maxfwd.process_maxfwd(MAX_FORWARDS)
        if hops == -1:
            reply(483, "Too Many Hops")
            return
        if hops < 0:  # -2: Max-Forwards is not a number
            reply(400, "Bad Max-Forwards")
            return
        if KSR.sanity.sanity_check_defaults() < 0:
            KSR.notice(f"malformed request dropped after sanity reply {log_ctx()}\n")
            return
        # RFC 3261 Call-IDs are ASCII. Refused here, before a dialog or a call record exists
        # whose events could not read it (bytes that are not UTF-8 raise NotUtf8: 400 too).
        if not pv("$ci").isascii():
            if KSR.is_ACK() <= 0:
                reply(400, "Bad Call-ID")
            return
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
        if method == "OPTIONS" and KSR.is_myself_ruri() > 0 and not pv("$rU"):
            # Keepalives and load balancers' probes: never wait on Redis.
            if cluster.draining():
                cluster.refuse_draining()
            else:
                reply(200, "OK", (ALLOW,))
            return
        if method in INITIAL_METHODS and cluster.deliver(ctx):
            return  # handed over by another node: delivered over the agent's connection here
        if method in NEW_WORK and cluster.draining():
            cluster.refuse_draining()
            return
        if method == "INVITE" and queues.is_parking(ctx):
            queues.park(ctx)
            return
        if method == "INVITE" and transfers.on_transfer_invite(ctx):
            return
        if method != "REGISTER" and inbound.from_carrier(ctx):
            return
        if method == "REGISTER":
            handle_register(ctx)
        elif method in INITIAL_METHODS:
            handle_initial(ctx)
        else:
            reply(405, "Method Not Allowed", (ALLOW,))

    def _in_dialog(self) -> None:
        ctx = self._ctx()
        if supervision.owns_request():  # the edge itself is the supervisor's peer
            supervision.in_dialog(ctx)
            return
        route = dialog_guard.signed_route(ctx)
        if route is None:
            # Not a dialog this edge made: never relayed (an ACK for a refusal is absorbed).
            if KSR.is_ACK() > 0:
                KSR.tm.t_check_trans()
            elif KSR.hdr.is_present("Route") > 0:
                metrics.sip_refused("foreign_dialog")
                reply(403, "Not A Dialog Of This Edge")
            else:
                reply(404, "Not Here")
            return
        if KSR.rr.loose_route() <= 0:
            reply(404, "Not Here")
            return
        method = pv("$rm")
        if dialog_guard.handed_over(route):
            # A call another node handed over: that node decides transfers and media.
            route_by_alias()
            if method in REOFFERS and not cluster.from_peer(ctx):
                fix_contact()
        elif not self._anchored(ctx, method):
            return
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()

    def _anchored(self, ctx: Context, method: str) -> bool:
        """An in-dialog request of a call this node anchors, made ready to relay; False when
        the edge answered it itself. The plain ACK and BYE take only the checks that apply to
        them: one call record read (decoded only when it has a carrier leg or a late-offer
        answer), shared by the media and the caller-ID steps."""
        if method in ANSWERABLE and self._answered_here(ctx, method):
            return False
        # A plain call's ACK or BYE needs nothing of its record: not decoded.
        record = CallRecord() if method in ENDS_AND_ACKS and CallRecord.plain() else CallRecord.load()
        if method == "ACK":
            media.answer_in_ack(ctx, record)
        route_by_alias()
        callerid.in_dialog(record)
        if method == "BYE" and KSR.dialog.is_known_dlg() <= 0:
            # A dialog lost in a Kamailio restart: no dialog event will free its media.
            media.end_call(ctx, pv("$ci"))
        elif method in REOFFERS:  # re-INVITE and UPDATE carry a fresh Contact
            if not cluster.from_peer(ctx):
                fix_contact()
            media.offer_in_dialog(ctx, record)
        return True

    def _answered_here(self, ctx: Context, method: str) -> bool:
        """In-dialog requests the edge itself acts on: a REFER (transfer; a let-through one stops
        the recordings), an agent's recording INFO, the NOTIFYs of the API's inter-org transfer.
        True when answered here, not relayed."""
        if method == "REFER":
            if transfers.on_refer(ctx):
                return True
            recordings.on_transfer(ctx, pv("$ci"))
            return False
        if method == "INFO":
            return recordings.on_info(ctx)
        return orgtransfer.on_notify(ctx)

    # -- events -------------------------------------------------------------------
    def ksr_xhttp_event(self, msg: object, evname: str) -> int:
        def body() -> None:
            assert self.ctx is not None and self.admin is not None and self.agent_api is not None
            handle_http(self.ctx, self.admin, self.agent_api)

        def fail(e: Exception) -> None:
            resp = error(400, "request is not UTF-8") if isinstance(e, NotUtf8) else error(500, "internal error")
            KSR.xhttp.xhttp_reply(resp.status, resp.reason, resp.content_type, resp.body)

        return _guard("xhttp", body, fail)

    def ksr_websocket_event(self, msg: object, evname: str) -> int:
        return 1

    def ksr_tcp_event(self, msg: object, evname: str) -> int:
        """tcp:closed, tcp:reset, tcp:timeout (TCP main process): the connection stops counting
        against its source, and the vanished agent's calls are queued for the timer below."""

        def body() -> None:
            connections.released()
            queue_closed_connection()

        return _guard("tcp", body)

    def ksr_vanished_timer(self, msg: object, evname: str = "") -> int:
        """rtimer process: a WebSocket agent's connection is gone, its calls are ended."""
        return _guard("vanished", lambda: drain_closed_connections(self._ctx()))

    def ksr_history_timer(self, msg: object, evname: str = "") -> int:
        """rtimer process: the history writes queued since the last run, to Redis."""
        return _guard("history", lambda: self.history_writer.run(self._ctx()))

    def ksr_dialog_event(self, msg: object, evname: str) -> int:
        if evname not in DIALOG_EVENTS:
            return 1
        return _guard("dialog", lambda: dialogs.on_event(self._ctx(), evname))

    def ksr_call_failure(self, msg: object) -> int:
        """Failure route of tracked calls: every branch failed; count the final status."""

        def body() -> None:
            _count_final(int(pv("$T_reply_code") or 0))

        return _guard("call_failure", body)

    # -- tm routes armed by the relay path (names in kemi_app.sip.tmroutes) -----------------
    def ksr_branch_media(self, msg: object) -> int:
        def body() -> None:
            cluster.sign_branch(self._ctx())
            ctx, tx = self._ctx(), Transaction.load()
            if not queues.on_branch(tx):  # the parking branch (sip/queues.py) has no media
                if tx.customer_caller:
                    callerid.on_branch(ctx, CallRecord.load(), tx)
                media.on_branch(ctx, tx)

        return _guard("branch_media", body, lambda e: KSR.set_drop())

    def ksr_onreply_media(self, msg: object) -> int:
        """Replies of calls, in one place: who rings, which queue member answered, the media."""

        def body() -> None:
            if int(pv("$rs") or 0) == TRYING:
                return
            ctx, record, tx = self._ctx(), CallRecord.load(), Transaction.load()
            attendances.on_reply(ctx, record, tx)
            queues.on_reply(ctx, record, tx)
            # The parking branch's answers (sip/queues.py: queue calls only) have no media.
            if tx.queue is None or not from_itself(ctx):
                media.on_reply(ctx, record, tx)
            callerid.on_reply(record)
            record.save()
            tx.save()

        return _guard("onreply_media", body)

    def ksr_queue_failure(self, msg: object) -> int:
        """Failure route of queue calls: the next member, the overflow, or the final status."""

        def body() -> None:
            final = queues.on_failure(self._ctx())
            if final is not None:
                _count_final(final)

        return _guard("queue_failure", outage.answering_503(body), _answer_tm_error)

    def ksr_queue_resume(self, msg: object) -> int:
        """A parking request resumed by the wake timer (tm t_continue)."""
        return _guard("queue_resume", queues.on_resume, _answer_tm_error)

    def ksr_queue_wake_timer(self, msg: object, evname: str = "") -> int:
        """rtimer process of its own: resume this node's waiting calls a member was handed to
        (it waits on Redis for the next one, so a hand-over is resumed at once)."""
        return _guard("queue_wake", lambda: queues.drain_wakes(self._ctx()))

    def _ctx(self) -> Context:
        if self.ctx is None:  # a process child_init never ran in (the rtimer process)
            self.ctx = Context.create()
        return self.ctx

    def ksr_reconcile(self, msg: object, *args: object) -> int:
        """rtimer tick (every second, one process): the node's part in the cluster, expired
        registrations, the rtpengine pool's health, recordings' audio files and retention, and
        the reconcile every EDGE_RECONCILE_SECONDS. Each guarded on its own: with Redis down
        the reconcile still deletes orphaned rtpengine sessions."""

        def cluster_work() -> None:
            ctx = self._ctx()
            now = time.monotonic()
            try:
                if now >= self.next_heartbeat:
                    self.next_heartbeat = now + HEARTBEAT_EVERY
                    cluster.heartbeat(ctx)
                if ctx.settings.peers:
                    vanish.ended_elsewhere(ctx)  # agents who vanished from other nodes
            except DependencyDown as e:  # Redis down: the next heartbeat once it is back
                KSR.notice(f"cluster tick skipped: {e}\n")

        def body() -> None:
            ctx = self._ctx()
            mediapool.check(ctx)
            now = time.monotonic()
            if now < self.next_reconcile:
                return
            self.next_reconcile = now + ctx.settings.reconcile_seconds
            reconcile(ctx)

        _guard("cluster", cluster_work)
        _guard("registrations", lambda: expire_registrations(self._ctx()))
        _guard("gateways", lambda: topology.sync(self._ctx()))
        _guard("recordings", lambda: recordings.housekeeping(self._ctx()))
        return _guard("reconcile", body)

    def ksr_gateway_failure(self, msg: object) -> int:
        """Failure route of carrier calls: fail over to the next gateway, or count the end."""

        def body() -> None:
            final = carriers.next_attempt(self._ctx())
            if final is not None:
                _count_final(final)

        return _guard("gateway_failure", outage.answering_503(body), _answer_tm_error)
