"""A pool of two rtpengines (EDGE_RTPENGINE_NG lists both): a call's media stays on one
instance through hold and resume; one instance killed (SIGKILL, by the PID this test's stack
started) takes no new calls, the calls it held are ended and reported (history event, metric),
and new calls get media through the other.

The stack runs unsupervised: a supervisor would restart the killed instance at once."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from subprocess import Popen

import pytest

from edgeops.stack import Stack, http_get
from kemi_app.policy.attendance import MEDIA_LOST
from kemi_app.policy.media_pool import node_label
from kemi_app.rtpengine_ng import command, ping
from kemi_app.state import EdgeState, connect
from tests.conftest import edge_environment, pick_port_base, sipp_peers, unsupervised
from tests.integration.helpers import call, finish, register
from tests.integration.rtp import call_ids, packets_from, pause, play, reinvite, wait_for
from tests.integration.test_media import MEDIA_PORT_OFFSET, echo_phone, media_call
from tests.sipp import Sipp
from tests.state_kit import drop_bindings

# The pool's health tick runs every second; an instance is out after one missed ping and
# dead after three.
TAKEN_OUT_SECONDS = 3
CALLS_ENDED_SECONDS = 8


@pytest.fixture(scope="module")
def pool_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = pick_port_base()
    env = edge_environment(base, tmp_path_factory.mktemp("media-pool"), EDGE_RECONCILE_SECONDS="2",
                           EDGE_RTPENGINE_NG=f"127.0.0.1:{base + 4}=1,127.0.0.1:{base + 7}=1",
                           EDGE_RTPENGINE_HTTP=f"127.0.0.1:{base + 5},127.0.0.1:{base + 8}")
    with unsupervised(env) as stack:
        yield stack


@pytest.fixture(scope="module")
def pool_sipp(pool_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sipp]:
    with sipp_peers(pool_stack, tmp_path_factory.mktemp("media-pool-sipp")) as s:
        yield s


@pytest.fixture(scope="module")
def pool_state(pool_stack: Stack) -> EdgeState:
    return EdgeState(connect(pool_stack.settings.effective_redis_url))


def pool(stack: Stack) -> list[str]:
    return [m.ng for m in stack.settings.media_pool]


def holders(stack: Stack, alive: list[str] | None = None) -> dict[str, list[str]]:
    """Call-IDs each (live) instance holds a session for."""
    return {ng: call_ids(ng) for ng in (alive or pool(stack))}


def phone(sipp: Sipp, state: EdgeState) -> int:
    drop_bindings(state, "demo", "1002")
    port = sipp.next_port()
    assert register(sipp, "1002", port).ok
    return port


def test_a_call_stays_on_one_instance_through_hold_and_resume(pool_stack: Stack, pool_sipp: Sipp,
                                                              pool_state: EdgeState) -> None:
    callee = phone(pool_sipp, pool_state)
    uas = echo_phone(pool_sipp, callee)
    steps = pause(1500) + reinvite(3, "sendonly") + pause(1500) + reinvite(4, "sendrecv") + pause(1500)
    caller, _ = media_call(pool_sipp, steps, bye_cseq=5)
    seen: list[dict[str, list[str]]] = []
    labels: set[str] = set()
    deadline = time.monotonic() + 4.2
    while time.monotonic() < deadline:
        seen.append(holders(pool_stack))
        labels |= {label for ng, ids in seen[-1].items() for call_id in ids for label in monologue_labels(ng, call_id)}
        time.sleep(0.3)
    code, out = finish(caller)
    assert code == 0, out
    assert finish(uas)[0] == 0
    used = {ng for snapshot in seen for ng, ids in snapshot.items() if ids}
    assert len(used) == 1, f"the call's media moved between instances: {seen}"
    # Labelled with the node that made it: another node's reconcile leaves it alone.
    assert node_label(pool_stack.settings.node_uri) in labels, labels
    assert wait_for(lambda: not any(holders(pool_stack).values()), 5), holders(pool_stack)


def monologue_labels(ng: str, call_id: str) -> list[str]:
    tags = command(ng, {"command": "query", "call-id": call_id}).get("tags") or {}
    return [t["label"].decode() for t in tags.values() if isinstance(t, dict) and t.get("label")]  # type: ignore[union-attr]


def answered_call(stack: Stack, sipp: Sipp, state: EdgeState) -> tuple[Popen[str], Popen[str], int, str, str]:
    """A long call, answered: (caller, callee's phone, its port, the instance holding its
    media, its Call-ID)."""
    callee = phone(sipp, state)
    uas = echo_phone(sipp, callee)
    caller, _ = media_call(sipp, pause(30000))
    assert wait_for(lambda: state.agents.presence("demo", ["1002"])[0].state == "in-call", 5), \
        "the call was never answered"
    (holder,) = [ng for ng, ids in holders(stack).items() if ids]
    (call_id,) = call_ids(holder)
    return caller, uas, callee, holder, call_id


def kill(stack: Stack, ng: str) -> tuple[str, float]:
    name = "rtpengine" if ng == pool(stack)[0] else "rtpengine2"
    os.kill(stack.procs[name].pid, signal.SIGKILL)
    stack.procs[name].wait(5)
    return name, time.monotonic()


def lost_calls(stack: Stack, ng: str) -> float:
    status, body = http_get(stack.admin_url + "/metrics")
    assert status == 200
    found = re.search(rf'^edge_media_calls_lost_total{{rtpengine="{re.escape(ng)}"}} (\S+)$', body.decode(), re.M)
    return float(found.group(1)) if found else 0.0


def assert_ended_and_reported(stack: Stack, state: EdgeState, caller: Popen[str], uas: Popen[str],
                              holder: str, call_id: str, since: float, lost_before: float) -> None:
    """Both sides got a BYE, the history says why, the agents are free, the metric counts it."""
    caller.wait(CALLS_ENDED_SECONDS)
    uas.wait(5)
    ended = time.monotonic() - since
    assert ended < CALLS_ENDED_SECONDS, f"the call was kept for {ended:.1f}s after its media died"
    att = state.history.attendance_by_call(call_id)
    assert att is not None

    def events() -> list[str]:
        return [e.event for e in state.history.attendance_history(att.id)]

    # Written by the edge's history writer a moment after the BYEs left.
    assert wait_for(lambda: MEDIA_LOST in events(), 5), events()
    assert wait_for(lambda: state.agents.presence("demo", ["1001", "1002"])[0].state != "in-call", 5)
    assert lost_calls(stack, holder) == lost_before + 1


def test_calls_of_an_instance_restarted_between_two_pings_are_ended_and_reported(
        pool_stack: Stack, pool_sipp: Sipp, pool_state: EdgeState) -> None:
    caller, uas, _, holder, call_id = answered_call(pool_stack, pool_sipp, pool_state)
    lost_before = lost_calls(pool_stack, holder)
    # Uptime is in whole seconds: a restart is told apart from the first start after 2 s.
    assert wait_for(lambda: int(command(holder, {"command": "statistics"})["statistics"]  # type: ignore[index]
                                ["totalstatistics"]["uptime"]) >= 3, 5)
    name, killed = kill(pool_stack, holder)
    pool_stack._launch(name)  # what the supervisor does, within a second: no ping is missed
    assert_ended_and_reported(pool_stack, pool_state, caller, uas, holder, call_id, killed, lost_before)


def test_killed_instance_takes_no_new_calls_and_its_calls_are_ended_and_reported(
        pool_stack: Stack, pool_sipp: Sipp, pool_state: EdgeState) -> None:
    caller, uas, callee, holder, call_id = answered_call(pool_stack, pool_sipp, pool_state)
    (survivor,) = [ng for ng in pool(pool_stack) if ng != holder]
    lost_before = lost_calls(pool_stack, holder)
    _, killed = kill(pool_stack, holder)
    assert_ended_and_reported(pool_stack, pool_state, caller, uas, holder, call_id, killed, lost_before)

    # New calls: every one gets through, on the survivor, with media both ways.
    time.sleep(max(0.0, killed + TAKEN_OUT_SECONDS - time.monotonic()))
    for _ in range(4):
        uas = echo_phone(pool_sipp, callee)
        result = call(pool_sipp, "1001", "1002", hold_ms=200)
        assert result.ok, result.output + result.errors
        assert finish(uas)[0] == 0
    uas = echo_phone(pool_sipp, callee)
    caller, caller_media = media_call(pool_sipp, play() + pause(3000))
    both_ways = wait_for(lambda: min(packets_from(survivor).get(caller_media, 0),
                                     packets_from(survivor).get(callee + MEDIA_PORT_OFFSET, 0)) >= 25, 6)
    code, out = finish(caller)
    assert code == 0, out
    assert finish(uas)[0] == 0
    assert both_ways, "no media through the surviving rtpengine"


def test_the_reconcile_deletes_only_orphan_sessions_this_node_made(pool_stack: Stack) -> None:
    """Several nodes may share the pool: a session labelled by another node is that node's
    to reconcile; one labelled by this node (or by none) with no dialog here goes."""
    ng = next(ng for ng in pool(pool_stack) if ping(ng))  # the test above killed one
    sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
    labels = {"orphan-mine": node_label(pool_stack.settings.node_uri), "orphan-unlabelled": "",
              "orphan-elsewhere": node_label("sip:127.0.0.99:5060")}
    for call_id, label in labels.items():
        offer = {"command": "offer", "call-id": call_id, "from-tag": "a", "sdp": sdp}
        assert command(ng, {**offer, **({"label": label} if label else {})})["result"] == b"ok"
    try:
        assert wait_for(lambda: set(call_ids(ng)) == {"orphan-elsewhere"}, 10), call_ids(ng)
    finally:
        command(ng, {"command": "delete", "call-id": "orphan-elsewhere"})
