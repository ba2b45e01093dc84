"""Agents on SIP over WebSocket: registration and calls through the browser-style contact."""

from __future__ import annotations

import threading

from edgeops.stack import Stack
from tests.integration.helpers import call
from tests.sipp import Sipp
from tests.state_kit import drop_bindings
from tests.ws_agent import WsAgent


def ws_url(edge: Stack) -> str:
    return f"ws://127.0.0.1:{edge.settings.ws_port}"


def test_ws_agent_registers_and_receives_a_call(edge: Stack, sipp: Sipp, state) -> None:
    drop_bindings(state, "demo", "1002")
    agent = WsAgent(ws_url(edge), "1002", "demo.test", "demo1002")
    assert agent.register() == 200
    (binding,) = state.registrations.bindings("demo", "1002")
    assert binding.received.endswith(";transport=ws") and binding.conn_id > 0
    answered: list[str] = []

    def phone() -> None:
        answered.append(agent.answer_next_invite())
        answered.append(agent.answer_bye())

    thread = threading.Thread(target=phone, daemon=True)
    thread.start()
    result = call(sipp, "1001", "1002")
    thread.join(10)
    assert result.ok, result.output + result.errors
    assert len(answered) == 2 and answered[0] == answered[1]
    agent.ws.close()


# What a browser answers when it is offered nothing: its own offer, DTLS-SRTP with ICE.
BROWSER_OFFER = "\r\n".join((
    "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0", "c=IN IP4 127.0.0.1", "a=mid:0",
    "a=rtpmap:111 opus/48000/2", "a=rtpmap:0 PCMU/8000",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass",
    "a=ice-ufrag:Xk2p", "a=ice-pwd:q8KgDkVqTe6uFkkD3Z0yL2n5", "a=rtcp-mux", "a=sendrecv",
    "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host", "",
))


def test_a_late_offer_reaches_a_webrtc_agent(edge: Stack, sipp: Sipp, state) -> None:
    # The caller's INVITE has no SDP: the browser offers in its 200 (DTLS, ICE), which reaches
    # the caller as plain RTP (sipp checks it), and the caller's plain answer in the ACK
    # reaches the browser as DTLS-SRTP with ICE.
    drop_bindings(state, "demo", "1002")
    agent = WsAgent(ws_url(edge), "1002", "demo.test", "demo1002")
    assert agent.register() == 200
    seen: dict[str, str] = {}

    def phone() -> None:
        invite_call_id = agent.answer_next_invite(BROWSER_OFFER)
        seen["ack"] = agent.next_request("ACK")
        seen["bye"] = agent.answer_bye()
        seen["call"] = invite_call_id

    thread = threading.Thread(target=phone, daemon=True)
    thread.start()
    result = call(sipp, "1001", "1002", scenario="uac_late_offer.xml", hold_ms=500)
    thread.join(10)
    assert result.ok, result.output + result.errors
    ack = seen.get("ack", "")
    assert "UDP/TLS/RTP/SAVPF" in ack and "a=fingerprint" in ack and "a=ice-ufrag" in ack, ack
    assert seen.get("bye") == seen.get("call")
    agent.ws.close()
