"""Real browser agents (JsSIP and SIP.js in Chromium) through the edge, against sipp peers:
media both ways measured in the browser (getStats) and at rtpengine (its own counters)."""

from __future__ import annotations

import subprocess

import pytest

from edgeops.stack import Stack
from tests.browser.conftest import PASSWORDS, AgentPage
from tests.integration.helpers import finish, register
from tests.integration.rtp import packets_by_tag, pause, play, wait_for
from tests.sipp import Sipp

CLIENTS = ["jssip", "sipjs"]


@pytest.fixture(scope="module", params=CLIENTS)
def client(request: pytest.FixtureRequest) -> str:
    return request.param


def echo_phone(peer: Sipp, state, ext: str = "1002") -> subprocess.Popen[str]:
    """Agent `ext` as a sipp phone on the host that answers and echoes RTP back."""
    state.drop_bindings("demo", ext)
    port = peer.next_port()
    result = register(peer, ext, port)
    assert result.ok, result.output + result.errors
    return peer.start("uas_echo.xml", [], port=port, values={"ring_ms": 200}, extra=["-rtp_echo"])


def both_ways_at_rtpengine(edge: Stack, packets: int = 50) -> list[int]:
    ng = edge.settings.rtpengine_ng
    wait_for(lambda: len(packets_by_tag(ng)) >= 2 and min(packets_by_tag(ng)) >= packets, 10)
    return packets_by_tag(ng)


def assert_media(agent: AgentPage, edge: Stack) -> None:
    stats = agent.wait_media()
    assert stats["sent"] >= 50 and stats["received"] >= 50, stats
    counts = both_ways_at_rtpengine(edge)
    assert len(counts) >= 2 and min(counts) >= 50, counts


def test_browser_calls_an_rtp_echo_phone_and_hangs_up(client, open_agent, browser_edge, browser_state, peer) -> None:
    phone = echo_phone(peer, browser_state)
    agent = open_agent(client, "1001")
    agent.run("agent.call(arg)", "1002")
    assert_media(agent, browser_edge)
    agent.run("agent.hangup()")
    code, out = finish(phone)
    assert code == 0, out


def test_sipp_customer_calls_the_browser_which_answers(client, open_agent, browser_edge, browser_state, peer) -> None:
    agent = open_agent(client, "1001")
    caller = peer.start("uac_media.xml", [["1002", "demo.test", PASSWORDS["1002"], "1001"]], port=peer.next_port(),
                        values={"steps": play() + pause(5000), "bye_cseq": 3},
                        extra=["-au", "1002", "-ap", PASSWORDS["1002"]])
    agent.run("agent.answer(10000)")
    assert_media(agent, browser_edge)
    code, out = finish(caller)
    assert code == 0, out
    assert wait_for(lambda: agent.page.evaluate("agent.ended()"), 5)
