"""RFC 4733 DTMF end to end between an agent's phone and a carrier gateway, both ways, through
the real edge and rtpengine: real telephone-event packets from the test's own RTP sockets
(sipp does the signalling), with and without transcoding."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kemi_app.provisioning.gateway import Gateway
from kemi_app.state import EdgeState
from tests.integration.dtmf import (
    OFFERED_EVENT_PT,
    TAKE_OFFERED_EVENT_PT,
    event_payload_type,
    events_received,
    info_step,
    media_address,
    sdp_audio,
    send_digit,
)
from tests.integration.helpers import DEMO, PASSWORDS, finish
from tests.integration.rtp import pause, wait_for
from tests.integration.sip_trace import header, received, traced_peer
from tests.sipp import Sipp

AGENT = "1001"
NUMBER = "+5511987654321"
CODECS = {"PCMU": 0, "PCMA": 8}


@contextmanager
def rtp_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock
    finally:
        sock.close()


def sdp_of(log: Path, first_line: str) -> str:
    found = wait_for(lambda: [m for m in received(log, first_line) if "\n\nv=0" in m], 15)
    assert found, f"no {first_line!r} with SDP in {log}"
    return found[-1].split("\n\n", 1)[1]


def agent_call(sipp: Sipp, sock: socket.socket, codec: str, steps: str = pause(4000),
               bye_cseq: int = 3) -> tuple[subprocess.Popen[str], Path]:
    """The agent's phone calls NUMBER offering `codec` and telephone-event, media to `sock`;
    it stays in the call for a few seconds (the test's `steps`), then hangs up."""
    log = sipp.workdir / f"agent-{sock.getsockname()[1]}.log"
    values = {"audio": sdp_audio(sock.getsockname()[1], codec, CODECS[codec]), "steps": steps, "bye_cseq": bye_cseq}
    proc = sipp.start("uac_media.xml", [[AGENT, DEMO, PASSWORDS[AGENT], NUMBER]], port=sipp.next_port(),
                      values=values, extra=["-au", AGENT, "-ap", PASSWORDS[AGENT], "-trace_msg", "-message_file",
                                            str(log)])
    return proc, log


@pytest.mark.parametrize(("agent_codec", "gateway_codecs"), [
    ("PCMU", ["PCMU", "PCMA"]),  # relayed as is
    ("PCMA", ["PCMU"]),  # transcoded: the events go through rtpengine's transcoder
])
def test_dtmf_passes_between_agent_and_carrier_both_ways(sipp: Sipp, state: EdgeState, gateways, agent_codec: str,
                                                         gateway_codecs: list[str]) -> None:
    state.directory.save_gateway(Gateway("test-gw0", f"sip:127.0.0.1:{gateways[0]}", 10, codecs=gateway_codecs))
    with rtp_socket() as phone, rtp_socket() as carrier:
        audio = sdp_audio(carrier.getsockname()[1], "PCMU", 0, OFFERED_EVENT_PT)
        gw, gw_log = traced_peer(sipp, gateways[0], "uas_echo.xml", audio=audio, ring_ms=0,
                                 offer_check=TAKE_OFFERED_EVENT_PT)
        agent, agent_log = agent_call(sipp, phone, agent_codec)
        offer, answer = sdp_of(gw_log, "INVITE "), sdp_of(agent_log, "SIP/2.0 200")
        # Toward the carrier: the gateway's codecs, and telephone-event kept (at 8 kHz, next to G.711).
        toward_carrier = event_payload_type(offer)
        send_digit(phone, media_address(answer), "5", CODECS[agent_codec], 101)
        heard = events_received(carrier, 1.5)
        assert {e.digit for e in heard} == {"5"} and any(e.end for e in heard), heard
        assert {e.payload_type for e in heard} == {toward_carrier}
        # And back: the carrier's IVR hears nothing, the agent's phone gets the carrier's digit.
        send_digit(carrier, media_address(offer), "9", 0, toward_carrier)
        heard = events_received(phone, 1.5)
        assert {e.digit for e in heard} == {"9"} and any(e.end for e in heard), heard
        assert {e.payload_type for e in heard} == {event_payload_type(answer)}
        assert finish(agent)[0] == 0 and finish(gw)[0] == 0


def test_sip_info_dtmf_from_an_agent_is_passed_to_the_carrier(sipp: Sipp, gateways) -> None:
    """SIP INFO is passed as it is (not turned into RTP events): a carrier that takes INFO
    gets it in the dialog, without the phone's inside details."""
    with rtp_socket() as phone, rtp_socket() as carrier:
        audio = sdp_audio(carrier.getsockname()[1], "PCMU", 0)
        gw, gw_log = traced_peer(sipp, gateways[0], "uas_echo.xml", audio=audio, ring_ms=0, offer_check="")
        agent, _ = agent_call(sipp, phone, "PCMU", steps=pause(300) + info_step(3, "7") + pause(300), bye_cseq=4)
        assert finish(agent)[0] == 0 and finish(gw)[0] == 0
    infos = received(gw_log, "INFO ")
    assert infos and "Signal=7" in infos[-1], gw_log.read_text()[-3000:]
    assert "application/dtmf-relay" in header(infos[-1], "Content-Type")[0]
    assert not header(infos[-1], "User-Agent"), infos[-1]
