"""Media settings honoured end to end, on an edge of their own: RTP <-> RTP anchoring off,
the advertised media address and the port range."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from edgeops.stack import Stack
from kemi_app.rtpengine_ng import command
from tests.conftest import edge_environment, pick_port_base
from tests.integration.helpers import PASSWORDS, finish, register
from tests.integration.rtp import PCAP, pause, play, sessions
from tests.sipp import Sipp

ADVERTISED = "127.0.0.5"  # loopback too: nothing leaves the machine even if something sent there


@pytest.fixture(scope="module")
def unanchored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = pick_port_base()
    env = edge_environment(base, tmp_path_factory.mktemp("unanchored"), EDGE_MEDIA_ANCHOR_RTP="0",
                           EDGE_RTP_ADVERTISE_ADDR=ADVERTISED, EDGE_RTP_PORT_MIN=str(base + 20500),
                           EDGE_RTP_PORT_MAX=str(base + 20599))
    stack = Stack(env, log_to_files=True)
    stack.start()
    yield stack
    stack.stop()


def test_rtp_to_rtp_call_bypasses_rtpengine_when_anchoring_is_off(
    unanchored: Stack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    s = unanchored.settings
    sipp = Sipp(f"127.0.0.1:{s.sip_port}", tmp_path_factory.mktemp("unanchored-sipp"), port_base=s.sip_port + 20)
    port = sipp.next_port()
    assert register(sipp, "1002", port).ok
    # The callee must see the caller's own media address, untouched by rtpengine.
    direct = ('<action><ereg regexp="c=IN IP4 127.0.0.1" search_in="body" check_it="true" assign_to="c"/>'
              '<log message="[$c]"/></action>')
    phone = sipp.start("uas_echo.xml", [], port=port, values={"ring_ms": 100, "offer_check": direct},
                       extra=["-rtp_echo"])
    caller = sipp.start("uac_media.xml", [["1001", "demo.test", PASSWORDS["1001"], "1002"]], port=sipp.next_port(),
                        values={"steps": play(PCAP) + pause(1500), "bye_cseq": 3},
                        extra=["-au", "1001", "-ap", PASSWORDS["1001"]])
    seen = []
    while caller.poll() is None and len(seen) < 100:
        seen.append(sessions(s.rtpengine_ng))
        time.sleep(0.1)
    code, out = finish(caller)
    assert code == 0, out
    code, out = finish(phone)
    assert code == 0, out
    assert seen and max(seen) == 0, "rtpengine was engaged for an unanchored RTP call"


def test_rtpengine_advertises_the_public_address_and_uses_the_port_range(unanchored: Stack) -> None:
    s = unanchored.settings
    sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
    answer = command(s.rtpengine_ng, {"command": "offer", "call-id": "settings-check", "from-tag": "a", "sdp": sdp})
    try:
        out = answer["sdp"].decode()  # type: ignore[union-attr]
        assert f"c=IN IP4 {ADVERTISED}" in out, out
        port = int(out.split("m=audio ")[1].split()[0])
        assert s.rtp_port_min <= port <= s.rtp_port_max, out
    finally:
        command(s.rtpengine_ng, {"command": "delete", "call-id": "settings-check"})
