"""Redis or rtpengine stalls (SIGSTOP) under a steady call load, on an edge of its own:
OPTIONS keepalives are answered throughout, requests that need the stalled dependency get
a fast 503 with Retry-After, calls work again within 5 s of it coming back, and no agent
stays in-call (nor rtpengine session stays) for a call that ended during the outage."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from edgeops.stack import Stack
from kemi_app.state import EdgeState, connect
from tests.conftest import edge_environment, pick_port_base, sipp_peers
from tests.integration import sip_probe
from tests.integration.contact_centre import AGENTS, DID, DOMAIN, ORG, PASSWORD, ContactCentre
from tests.integration.helpers import PASSWORDS, answer_one, call, finish, register
from tests.integration.rtp import call_ids, pause, reinvite, sessions, wait_for
from tests.integration.test_media import echo_phone, media_call
from tests.sipp import Sipp, SippResult
from tests.state_kit import drop_bindings

RECONCILE_SECONDS = 2
STALL_SECONDS = 5
RECOVERY_SECONDS = 5
# A worker waits at most 2 Redis timeouts (0.5 s) before its breaker opens; the rest is
# margin for a loaded 2-core machine (sipp, Redis, rtpengine and Kamailio share it).
OPTIONS_MAX_SECONDS = 1.5


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = edge_environment(pick_port_base(), tmp_path_factory.mktemp("outages"),
                           EDGE_RECONCILE_SECONDS=str(RECONCILE_SECONDS))
    with Stack(env, log_to_files=True).running() as s:
        try:
            yield s
        finally:
            for proc in s.procs.values():  # a failed test must not leave a component stopped
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGCONT)


@pytest.fixture(scope="module")
def osipp(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sipp]:
    with sipp_peers(stack, tmp_path_factory.mktemp("outage-sipp")) as s:
        yield s


@pytest.fixture(scope="module")
def ostate(stack: Stack) -> EdgeState:
    return EdgeState(connect(stack.settings.effective_redis_url))


@pytest.fixture
def cc(ostate: EdgeState, osipp: Sipp) -> ContactCentre:
    centre = ContactCentre.provision(ostate, osipp)
    for ext in AGENTS:
        ostate.r.delete(f"edge:calls:{ORG}:{ext}")
    return centre


def target(stack: Stack) -> tuple[str, int]:
    return ("127.0.0.1", stack.settings.sip_port)


class OptionsWatch:
    """OPTIONS to the edge every 100 ms from a thread, each answer's status and time kept."""

    def __init__(self, stack: Stack) -> None:
        self.target = target(stack)
        self.answers: list[sip_probe.Answer] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set() and len(self.answers) < 1000:
            self.answers.append(sip_probe.options(self.target, timeout=3.0))
            self.stop.wait(0.1)

    def slow(self) -> list[tuple[int, float]]:
        return [(a.status, round(a.seconds, 2)) for a in self.answers
                if a.status != 200 or a.seconds > OPTIONS_MAX_SECONDS]


@contextmanager
def call_load(stack: Stack, osipp: Sipp, seconds: int = 25, rate: int = 4) -> Iterator[None]:
    """Demo agent 1001 calling 1002 at `rate` calls/s (bounded in count and time), and
    OPTIONS keepalives watched throughout: every one answered 200 within OPTIONS_MAX_SECONDS."""
    port = osipp.next_port()
    assert register(osipp, "1002", port).ok
    phone = osipp.start("uas.xml", [], port=port, calls=seconds * rate)
    time.sleep(0.3)
    caller = osipp.start("uac_call.xml", [["1001", "demo.test", PASSWORDS["1001"], "1002"]], port=osipp.next_port(),
                         calls=seconds * rate, values={"hold_ms": 500},
                         extra=["-au", "1001", "-ap", PASSWORDS["1001"], "-r", str(rate), "-l", str(rate * 2)])
    watch = OptionsWatch(stack)
    watch.thread.start()
    try:
        yield
    finally:
        watch.stop.set()
        watch.thread.join(5)
        caller.send_signal(signal.SIGUSR1)  # sipp: no new calls, finish (hang up) the ones up
        caller.communicate(timeout=15)
        phone.kill()
        phone.communicate(timeout=5)
    assert watch.answers and watch.slow() == [], f"OPTIONS slow or unanswered: {watch.slow()}"


@contextmanager
def stopped(stack: Stack, *names: str) -> Iterator[float]:
    """SIGSTOP the components this stack started, SIGCONT them after STALL_SECONDS (counted
    from the stop, whatever the block took); yields the stop's monotonic time."""
    pids = [stack.procs[name].pid for name in names]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    start = time.monotonic()
    try:
        yield start
        time.sleep(max(0.0, start + STALL_SECONDS - time.monotonic()))
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def agent_call_works(osipp: Sipp, phone_port: int, phone_sipp: Sipp | None = None) -> bool:
    """3002 calls 3001 through `osipp`'s edge; 3001's phone listens on `phone_port` (of
    `phone_sipp` when it registered through another node)."""
    phone = answer_one(phone_sipp or osipp, phone_port)
    result = call(osipp, "3002", "3001", domain=DOMAIN, password=PASSWORD)
    if not result.ok:
        phone.kill()
    finish(phone, timeout=10)
    return result.ok


def recovery_seconds(osipp: Sipp, phone_port: int, since: float, phone_sipp: Sipp | None = None) -> float:
    """Seconds from `since` until an agent call goes through again (giving up after 15 s)."""
    while time.monotonic() - since < 15:
        if agent_call_works(osipp, phone_port, phone_sipp):
            return time.monotonic() - since
        time.sleep(0.2)
    return float("inf")


def stall_under_load(stack: Stack, osipp: Sipp, cc: ContactCentre, component: str, reason: str) -> int:
    """Stops `component` under the call load: OPTIONS answered throughout (call_load), a
    carrier call needing it refused fast with 503 `reason` and Retry-After, agent calls
    working again within RECOVERY_SECONDS of SIGCONT. Returns agent 3001's phone port."""
    port = cc.login("3001")
    with call_load(stack, osipp):
        time.sleep(1)
        with stopped(stack, component) as start:
            time.sleep(1.5)  # the load has opened the workers' breakers by now
            probe = sip_probe.carrier_invite(target(stack), cc.customer_ports[0], DID)
            assert time.monotonic() - start < STALL_SECONDS - 1, "the probe itself took too long"
        resumed = time.monotonic()
        assert (probe.status, probe.reason) == (503, reason), probe
        assert probe.seconds < 1.0, probe
        assert 1 <= int(probe.header("Retry-After") or 0) <= 5, probe
        assert recovery_seconds(osipp, port, resumed) < RECOVERY_SECONDS
    return port


def test_redis_stall_answers_options_and_refuses_calls_with_503(stack: Stack, osipp: Sipp,
                                                                 cc: ContactCentre) -> None:
    port = stall_under_load(stack, osipp, cc, "redis", "State Store Unavailable")
    # No registration was lost: the agent registered before the stall can still be called.
    assert agent_call_works(osipp, port)


def test_rtpengine_stall_refuses_calls_fast_and_leaks_no_session(stack: Stack, osipp: Sipp,
                                                                  cc: ContactCentre) -> None:
    stall_under_load(stack, osipp, cc, "rtpengine", "Media Relay Unavailable")
    # Calls that ended while rtpengine was stopped leave nothing behind once it is back.
    ng = stack.settings.rtpengine_ng
    assert wait_for(lambda: sessions(ng) == 0, RECONCILE_SECONDS + 10), f"sessions leaked: {call_ids(ng)}"


def test_in_dialog_reinvite_and_bye_are_relayed_while_rtpengine_is_stalled(stack: Stack, osipp: Sipp,
                                                                           ostate: EdgeState) -> None:
    ng = stack.settings.rtpengine_ng
    drop_bindings(ostate, "demo", "1002")
    port = osipp.next_port()
    assert register(osipp, "1002", port).ok
    phone = echo_phone(osipp, port)
    time.sleep(0.3)
    caller, _ = media_call(osipp, pause(1000) + reinvite(3, "sendonly") + pause(300), bye_cseq=4)
    assert wait_for(lambda: sessions(ng) > 0, 5), "the call was never anchored"
    with stopped(stack, "rtpengine") as start:
        with suppress(subprocess.TimeoutExpired):
            caller.wait(STALL_SECONDS - 0.5)  # hold re-INVITE, its ACK, then the BYE
        took = time.monotonic() - start
    code, out = finish(caller)
    assert code == 0, out
    # At most one module timeout (2 x 400 ms) for the re-offer and one for the delete, not 5-6 s.
    assert took < 3.5, f"the in-dialog requests waited {took:.1f}s on the stopped rtpengine"
    assert finish(phone)[0] == 0
    assert wait_for(lambda: sessions(ng) == 0, RECONCILE_SECONDS + 10), f"sessions leaked: {call_ids(ng)}"


def test_calls_ended_during_a_redis_stall_free_their_agents(stack: Stack, osipp: Sipp, cc: ContactCentre,
                                                            ostate: EdgeState) -> None:
    port = cc.login("3001")
    phone = answer_one(osipp, port)
    ended: dict[str, SippResult] = {}
    caller = threading.Thread(target=lambda: ended.setdefault(
        "r", call(osipp, "3002", "3001", domain=DOMAIN, password=PASSWORD, hold_ms=4000)), daemon=True)
    caller.start()
    assert wait_for(lambda: ostate.agents.presence(ORG, ["3001"])[0].state == "in-call", 5), "the call never started"
    attendance = ostate.history.recent_attendances(ORG, "3001")[0]
    log = Path(stack.log_hint("kamailio"))
    logged = log.stat().st_size
    with call_load(stack, osipp), stopped(stack, "redis"):
        stall = time.time()
        caller.join(10)  # the BYE comes once the load has opened the workers' breakers
        assert "r" in ended and ended["r"].ok, ended
        resumed = time.time()
    assert finish(phone)[0] == 0
    # The end, handed to the history writer while Redis was stopped, is written by the
    # writer's retries once Redis is back: both agents are free again...
    assert wait_for(lambda: {p.state for p in ostate.agents.presence(ORG, ["3001", "3002"])}
                    <= {"available", "offline"},
                    RECOVERY_SECONDS), ostate.agents.presence(ORG, ["3001", "3002"])
    # ...and nothing of it is lost: the call's history ends with the end the stall held back.
    history = wait_for(lambda: (h := ostate.history.attendance_history(attendance)) and h[-1].event == "end" and h,
                       RECOVERY_SECONDS)
    assert history and stall <= history[-1].at <= resumed, ostate.history.attendance_history(attendance)
    with log.open("rb") as f:
        f.seek(logged)
        assert b"dialog:end not recorded" not in f.read(), "a worker wrote the end itself, and failed"
    # ...and a queue call reaches the free agent instead of skipping it (retried like a
    # carrier honouring Retry-After while a worker still waits for its breaker's probe).
    phone = answer_one(osipp, port)
    result = wait_for(lambda: cc.customer().ok, RECOVERY_SECONDS, step=1.0)
    assert result, "the queue call never reached the agent"
    assert finish(phone)[0] == 0


def test_a_queue_offer_timing_out_during_a_redis_stall_gets_503(stack: Stack, osipp: Sipp, cc: ContactCentre) -> None:
    phone = answer_one(osipp, cc.login("3001"), "uas_ring.xml")
    refused: dict[str, SippResult] = {}
    customer = threading.Thread(target=lambda: refused.setdefault(
        "r", cc.customer("customer_refused.xml", expect=503)), daemon=True)
    customer.start()
    time.sleep(1.5)  # offered to 3001, ringing; its 5 s ring timeout ends inside the stall
    with stopped(stack, "redis"):
        customer.join(STALL_SECONDS)
    assert "r" in refused and refused["r"].ok, refused
    assert finish(phone)[0] == 0  # the edge cancelled the offer
