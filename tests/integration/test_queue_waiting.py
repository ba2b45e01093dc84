"""Callers wait in a queue when no member is free: early media with music from rtpengine,
offered in arrival order the moment a member becomes free, out at once when they hang up,
overflow after max_wait. Real Kamailio, Redis, rtpengine; customers and agents are sipp."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from edgeops.stack import Stack
from kemi_app.policy.pause import AgentStatus
from kemi_app.provisioning.service import Service
from tests.conftest import edge_environment, pick_port_base
from tests.integration.contact_centre import AGENTS, DID, DOMAIN, ORG, PASSWORD, QUEUE, ContactCentre
from tests.integration.helpers import answer_one, finish, register
from tests.integration.rtp import play
from tests.sipp import Sipp, SippResult

PCMU, PCMA = 0, 8


@pytest.fixture
def cc(centre: ContactCentre) -> ContactCentre:
    centre.reset()
    return centre


def _waiting_queue(cc: ContactCentre, max_wait: int) -> None:
    cc.state.directory.save_service(ORG, Service(QUEUE, "queue", "Sales", members=list(AGENTS), ring_timeout=5,
                                                 max_wait=max_wait))


def _eventually(check: Callable[[], bool], seconds: float = 8.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _waiting(cc: ContactCentre) -> int:
    return cc.state.queues.waiting(ORG, QUEUE)[0]


@contextmanager
def _media_socket() -> Iterator[socket.socket]:
    """Where a waiting customer takes its audio (the SDP it offers points here)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(3.0)
    try:
        yield s
    finally:
        s.close()


def _in_background(call: Callable[[], SippResult]) -> tuple[threading.Thread, dict[str, SippResult]]:
    out: dict[str, SippResult] = {}
    thread = threading.Thread(target=lambda: out.setdefault("result", call()))
    thread.start()
    return thread, out


def _free(cc: ContactCentre, ext: str) -> None:
    cc.state.agents.set_status(ORG, ext, AgentStatus(False, "", time.time()))


def test_caller_hears_music_while_waiting_and_the_member_who_unpauses_gets_the_call(
    cc: ContactCentre, sipp: Sipp
) -> None:
    _waiting_queue(cc, max_wait=20)
    cc.login("3001")
    cc.pause("3001")
    phone = answer_one(sipp, cc.agent_ports["3001"], "uas.xml")
    with _media_socket() as media:
        thread, out = _in_background(lambda: cc.customer(
            "customer_wait.xml", rtp_port=media.getsockname()[1], hold_ms=300))
        assert _eventually(lambda: _waiting(cc) == 1), "the call never joined the waiting calls"
        packet, source = media.recvfrom(2048)  # music: RTP from rtpengine to the waiting caller
        assert len(packet) > 12 and packet[0] >> 6 == 2, packet[:4]
        _free(cc, "3001")  # the unpause hands the member to the waiting call at once
        thread.join(30)
    result = out["result"]
    assert result.ok, result.output + result.errors
    assert finish(phone)[0] == 0
    assert _waiting(cc) == 0
    story = cc.story(cc.last_attendance("3001"))
    assert [s for s in story if s[0] in ("wait", "offer", "answer")] == [
        ("wait", QUEUE, ""), ("offer", "3001", ""), ("answer", "3001", "")]


def _payload_types(media: socket.socket, seconds: float) -> list[tuple[float, int]]:
    """(arrival, RTP payload type) of what the waiting customer receives for `seconds`."""
    out: list[tuple[float, int]] = []
    deadline = time.monotonic() + seconds
    media.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            packet = media.recv(2048)
        except TimeoutError:
            continue
        out.append((time.monotonic(), packet[1] & 0x7F))
    return out


def test_after_the_wait_the_member_is_heard_and_the_music_stops(cc: ContactCentre, sipp: Sipp) -> None:
    # Music is PCMU (the first codec the customer offers); the member plays PCMA.
    _waiting_queue(cc, max_wait=20)
    cc.login("3001")
    cc.pause("3001")
    # The member's audio plays in the background while its phone waits for the customer's BYE (a
    # pause there would race that BYE: sipp fails a call on a request that arrives mid-pause).
    phone = sipp.start("uas_echo.xml", [], port=cc.agent_ports["3001"],
                       values={"ring_ms": 0, "offer_check": "", "steps": play()})
    with _media_socket() as media:
        thread, out = _in_background(lambda: cc.customer(
            "customer_wait.xml", rtp_port=media.getsockname()[1], hold_ms=3000))
        assert _eventually(lambda: _waiting(cc) == 1)
        _free(cc, "3001")
        heard = _payload_types(media, 3.0)
        thread.join(30)
    assert out["result"].ok, out["result"].output + out["result"].errors
    assert finish(phone)[0] == 0
    member = [t for t, pt in heard if pt == PCMA]
    assert len(member) > 20, heard[:5]
    music_after = [t for t, pt in heard if pt == PCMU and t > member[0] + 0.5]
    assert not music_after, f"{len(music_after)} music packets after the member was heard"


def test_a_login_ends_the_wait_too(cc: ContactCentre, sipp: Sipp) -> None:
    _waiting_queue(cc, max_wait=20)
    with _media_socket() as media:
        thread, out = _in_background(lambda: cc.customer("customer_wait.xml", rtp_port=media.getsockname()[1]))
        assert _eventually(lambda: _waiting(cc) == 1)
        port = cc.login("3002")  # the phone takes the call on the port it registered from:
        phone = answer_one(sipp, port, "uas.xml")  # the INVITE's retransmission reaches it
        thread.join(30)
    assert out["result"].ok, out["result"].output + out["result"].errors
    assert finish(phone)[0] == 0


def test_caller_who_hangs_up_while_waiting_leaves_the_queue_at_once(cc: ContactCentre) -> None:
    _waiting_queue(cc, max_wait=20)
    with _media_socket() as media:
        thread, out = _in_background(lambda: cc.customer(
            "customer_wait_cancel.xml", rtp_port=media.getsockname()[1], wait_ms=1500))
        assert _eventually(lambda: _waiting(cc) == 1)
        thread.join(30)
    assert out["result"].ok, out["result"].output + out["result"].errors
    assert _waiting(cc) == 0


def test_nobody_within_max_wait_gets_480(cc: ContactCentre) -> None:
    _waiting_queue(cc, max_wait=2)
    started = time.monotonic()
    result = cc.customer("customer_refused.xml", expect=480)
    assert result.ok, result.output + result.errors
    assert time.monotonic() - started >= 1.5  # it waited before the overflow
    assert _waiting(cc) == 0


def test_nobody_within_max_wait_overflows_to_the_org_ivr(cc: ContactCentre, sipp: Sipp) -> None:
    cc.reset(overflow_ivr=True)
    _waiting_queue(cc, max_wait=2)
    ivr = answer_one(sipp, cc.ivr_port)
    with _media_socket() as media:
        result = cc.customer("customer_wait.xml", rtp_port=media.getsockname()[1])
    assert result.ok, result.output + result.errors
    assert finish(ivr)[0] == 0
    assert _waiting(cc) == 0


def test_a_member_who_refuses_after_the_wait_is_not_rung_again_at_once(cc: ContactCentre, sipp: Sipp) -> None:
    # 3001 comes free but its phone is busy: the call waits again (no ringing loop) until
    # 3002 logs in and answers.
    _waiting_queue(cc, max_wait=20)
    cc.login("3001")
    cc.pause("3001")
    busy = answer_one(sipp, cc.agent_ports["3001"], "uas_busy.xml")
    with _media_socket() as media:
        thread, out = _in_background(lambda: cc.customer("customer_wait.xml", rtp_port=media.getsockname()[1]))
        assert _eventually(lambda: _waiting(cc) == 1)
        _free(cc, "3001")
        assert finish(busy)[0] == 0
        assert _eventually(lambda: _waiting(cc) == 1)  # waiting again
        time.sleep(1.0)
        port = cc.login("3002")
        phone = answer_one(sipp, port, "uas.xml")
        thread.join(30)
    assert out["result"].ok, out["result"].output + out["result"].errors
    assert finish(phone)[0] == 0
    story = cc.story(cc.last_attendance("3002"))
    assert [s[:2] for s in story if s[0] == "offer" and not s[2]] == [("offer", "3001"), ("offer", "3002")]


def _first_come_first_served(cc: ContactCentre, first_via: Sipp, phone: subprocess.Popen[str]) -> None:
    """Two callers wait, the first (through `first_via`'s node) a little longer; 3001 comes
    free: the first caller gets it and talks on, the second keeps waiting until it hangs up."""
    with _media_socket() as first_media, _media_socket() as second_media:
        first, first_out = _in_background(lambda: first_via.run(
            "customer_wait.xml", [[DID]], port=cc.customer_ports[0],
            values={"rtp_port": first_media.getsockname()[1], "hold_ms": 6000}))
        assert _eventually(lambda: _waiting(cc) == 1)
        time.sleep(0.5)
        second, second_out = _in_background(lambda: cc.customer(
            "customer_wait_cancel.xml", 1, rtp_port=second_media.getsockname()[1], wait_ms=4000))
        assert _eventually(lambda: _waiting(cc) == 2)
        _free(cc, "3001")
        first.join(30)
        second.join(30)
    assert first_out["result"].ok, first_out["result"].output + first_out["result"].errors
    assert second_out["result"].ok, second_out["result"].output + second_out["result"].errors
    assert finish(phone)[0] == 0


def test_waiting_calls_are_offered_in_arrival_order(cc: ContactCentre, sipp: Sipp) -> None:
    _waiting_queue(cc, max_wait=20)
    cc.login("3001")
    cc.pause("3001")
    _first_come_first_served(cc, sipp, answer_one(sipp, cc.agent_ports["3001"], "uas.xml"))


@pytest.fixture(scope="module")
def second_node(edge: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sipp]:
    """Another edge node on the same Redis, and a sipp that talks to it."""
    env = edge_environment(pick_port_base(), tmp_path_factory.mktemp("node2"),
                           REDIS_URL=edge.settings.effective_redis_url)
    with Stack(env, log_to_files=True).running() as node:
        yield Sipp(f"127.0.0.1:{node.settings.sip_port}", tmp_path_factory.mktemp("sipp2"),
                   port_base=node.settings.sip_port + 20)


def test_arrival_order_holds_across_nodes(cc: ContactCentre, sipp: Sipp, second_node: Sipp) -> None:
    # The first caller waits on the second node, where the member registered; the state
    # change happens elsewhere (Redis), the next caller waits on the first node.
    _waiting_queue(cc, max_wait=20)
    port = sipp.next_port()
    reg = register(second_node, "3001", port, password=PASSWORD, domain=DOMAIN)
    assert reg.ok, reg.output + reg.errors
    cc.pause("3001")
    _first_come_first_served(cc, second_node, answer_one(second_node, port, "uas.xml"))
