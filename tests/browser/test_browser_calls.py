"""Real browser agents (JsSIP and SIP.js in Chromium) through the edge, against sipp peers:
media both ways measured in the browser (getStats: packets, and the energy of the audio it
decoded) and at rtpengine (its own counters). The sipp phones are G.711-only like real desk
phones, and send real audio: a tone, or the browser's own microphone beep echoed back (so an
audible echo proves both directions)."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import replace

import pytest
from playwright.sync_api import expect

from edgeops.stack import Stack
from kemi_app.provisioning.gateway import Gateway
from tests.browser.conftest import HARNESS, PASSWORDS, AgentPage
from tests.g711 import sdp_audio, tone_pcap
from tests.integration import dtmf
from tests.integration.api_client import api
from tests.integration.helpers import finish, register
from tests.integration.rtp import packets_by_tag, packets_from, pause, play, transcoded, wait_for
from tests.integration.sip_trace import received, traced_peer
from tests.sipp import Sipp
from tests.state_kit import drop_bindings

CLIENTS = ["jssip", "sipjs"]
MEDIA_PORT_OFFSET = 10000  # tests/sipp.py gives every sipp -mp port+10000


@pytest.fixture(scope="module", params=CLIENTS)
def client(request: pytest.FixtureRequest) -> str:
    return request.param


PCMU_PHONE = sdp_audio("PCMU")  # what the sipp phones offer and answer, like a G.711 desk phone


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 10 s PCMU tone the sipp phones play: real audio, in the codec they negotiated."""
    return str(tone_pcap(tmp_path_factory.mktemp("tone") / "tone-pcmu.pcap", "PCMU", seconds=10))


def sipp_media(media: str, tone: str) -> tuple[str, list[str]]:
    """Steps after the ACK and sipp options for a phone that echoes ("echo") or plays the tone."""
    return ("", ["-rtp_echo"]) if media == "echo" else (play(tone), [])


def pcmu_phone(peer: Sipp, state, ext: str = "1002", media: str = "echo",
               tone: str = "") -> tuple[subprocess.Popen[str], int]:
    """Agent `ext` as a PCMU sipp phone on the host that answers and echoes RTP back (or plays
    the tone); returns the process and its media port."""
    drop_bindings(state, "demo", ext)
    port = peer.next_port()
    result = register(peer, ext, port)
    assert result.ok, result.output + result.errors
    return pcmu_uas(peer, port, media=sipp_media(media, tone)), port + MEDIA_PORT_OFFSET


def pcmu_uas(peer: Sipp, port: int, offer_check: str = "",
             media: tuple[str, list[str]] = ("", ["-rtp_echo"])) -> subprocess.Popen[str]:
    steps, extra = media
    return peer.start("uas_echo.xml", [], port=port, extra=extra,
                      values={"ring_ms": 200, "offer_check": offer_check, "audio": PCMU_PHONE, "steps": steps})


def both_ways_at_rtpengine(edge: Stack, packets: int = 50) -> list[int]:
    ng = edge.settings.rtpengine_ng
    wait_for(lambda: len(packets_by_tag(ng)) >= 2 and min(packets_by_tag(ng)) >= packets, 10)
    return packets_by_tag(ng)


def assert_media(agent: AgentPage, edge: Stack) -> None:
    """Packets both ways at the page and at rtpengine, and audio the page really decoded."""
    stats = agent.wait_media()
    assert stats["sent"] >= 50 and stats["received"] >= 50, stats
    counts = both_ways_at_rtpengine(edge)
    assert len(counts) >= 2 and min(counts) >= 50, counts
    assert agent.wait_audio(), f"packets arrive but decode to silence: {agent.stats()}"


@pytest.mark.parametrize("media", ["echo", "tone"])
def test_browser_calls_a_pcmu_phone_and_hangs_up(
    client, open_agent, browser_edge, browser_state, peer, tone, media
) -> None:
    phone, _ = pcmu_phone(peer, browser_state, media=media, tone=tone)
    agent = open_agent(client, "1001")
    agent.run("agent.call(arg)", "1002")
    assert_media(agent, browser_edge)
    assert agent.stats()["codec"] == "audio/opus"  # browsers are kept on Opus by policy here
    agent.run("agent.hangup()")
    code, out = finish(phone)
    assert code == 0, out


@pytest.mark.parametrize("media", ["echo", "tone"])
def test_pcmu_customer_calls_the_browser_which_answers(
    client, open_agent, browser_edge, peer, tone, media
) -> None:
    agent = open_agent(client, "1001")
    steps, extra = sipp_media(media, tone)
    caller = peer.start("uac_media.xml", [["1002", "demo.test", PASSWORDS["1002"], "1001"]], port=peer.next_port(),
                        values={"steps": steps + pause(6000), "bye_cseq": 3, "audio": PCMU_PHONE},
                        extra=["-au", "1002", "-ap", PASSWORDS["1002"], *extra])
    agent.run("agent.answer(10000)")
    assert_media(agent, browser_edge)
    assert agent.stats()["codec"] == "audio/opus"
    code, out = finish(caller)
    assert code == 0, out
    assert wait_for(lambda: agent.page.evaluate("agent.ended()"), 5)


def test_a_phone_calls_the_browser_with_a_late_offer(client, open_agent, browser_edge, peer) -> None:
    # The phone's INVITE has no SDP: the browser offers in its 200 (DTLS, ICE), rtpengine
    # turns that into plain RTP for the phone (the scenario checks it) and the phone's answer
    # in the ACK into DTLS-SRTP for the browser. The phone echoes: audio both ways.
    agent = open_agent(client, "1001")
    caller = peer.start("uac_late_offer.xml", [["1002", "demo.test", PASSWORDS["1002"], "1001"]],
                        port=peer.next_port(), values={"steps": pause(6000), "hold_ms": 0, "audio": PCMU_PHONE},
                        extra=["-au", "1002", "-ap", PASSWORDS["1002"], "-rtp_echo"])
    agent.run("agent.answer(10000)")
    assert_media(agent, browser_edge)
    code, out = finish(caller)
    assert code == 0, out
    assert wait_for(lambda: agent.page.evaluate("agent.ended()"), 5)


def test_browser_to_browser(client, open_agent, browser_edge) -> None:
    caller, callee = open_agent(client, "1001"), open_agent(client, "1002")
    callee.page.evaluate("() => { window.answering = agent.answer(15000); }")
    caller.run("agent.call(arg)", "1002")
    callee.run("window.answering")
    assert_media(caller, browser_edge)
    assert_media(callee, browser_edge)
    caller.run("agent.hangup()")
    assert wait_for(lambda: callee.page.evaluate("agent.ended()"), 5)


def growth(read, seconds: float = 2.0) -> int:
    before = read()
    time.sleep(seconds)
    return read() - before


def test_hold_plays_music_to_the_sipp_side_and_resume_brings_the_echo_back(
    client, open_agent, browser_edge, browser_state, peer
) -> None:
    phone, phone_media = pcmu_phone(peer, browser_state)
    agent = open_agent(client, "1001")
    agent.run("agent.call(arg)", "1002")
    assert_media(agent, browser_edge)
    ng = browser_edge.settings.rtpengine_ng

    def echoed() -> int:  # packets the sipp phone sent back, as rtpengine counted them
        return packets_from(ng).get(phone_media, 0)

    def reached() -> int:
        return agent.stats()["transport"]

    def sent() -> int:
        return agent.stats()["sent"]

    agent.run("agent.hold()")
    # Then the agent's microphone leaves the call (the page sends no RTP at all): whatever the
    # sipp phone echoes during the hold can only be the music rtpengine plays to it.
    agent.run("agent.peer().getSenders()[0].replaceTrack(null).then(() => 1)")
    time.sleep(0.3)
    assert growth(echoed) >= 60, "no music reached the held sipp phone"
    agent.run("navigator.mediaDevices.getUserMedia({audio: true}).then("
              "s => agent.peer().getSenders()[0].replaceTrack(s.getAudioTracks()[0])).then(() => 1)")
    heard = agent.stats()["energy"]
    agent.run("agent.unhold()")
    time.sleep(0.3)
    before = (echoed(), sent(), reached())
    time.sleep(2)
    echo_n, sent_n, reached_n = echoed() - before[0], sent() - before[1], reached() - before[2]
    # Music would double what the phone gets: after the resume it echoes the agent alone, and
    # the echo reaches the page again, audible: the resume is answered sendrecv, so the page
    # receives again (its inbound stream starts afresh after the hold).
    assert abs(echo_n - sent_n) <= 20, (echo_n, sent_n)
    assert reached_n >= 60, "the echo did not come back after the resume"
    assert agent.wait_audio(since=heard), "the echo came back silent after the resume"
    assert agent.page.evaluate("agent.peer().getTransceivers()[0].currentDirection") == "sendrecv"
    agent.run("agent.hangup()")
    code, out = finish(phone)
    assert code == 0, out


def test_closing_the_page_mid_call_ends_it_and_takes_the_agent_offline(
    client, open_agent, browser_edge, browser_state, peer
) -> None:
    phone, _ = pcmu_phone(peer, browser_state)
    agent = open_agent(client, "1001")
    assert browser_state.registrations.bindings("demo", "1001")
    agent.run("agent.call(arg)", "1002")
    assert_media(agent, browser_edge)
    agent.page.context.close()
    code, out = finish(phone, timeout=20)  # the sipp phone got a BYE and answered it
    assert code == 0, out
    assert wait_for(lambda: not browser_state.registrations.bindings("demo", "1001"), 10), "agent 1001 still registered"


def test_closing_the_page_mid_call_sends_the_bye_to_a_tcp_caller(
    client, open_agent, browser_edge, browser_state, peer
) -> None:
    """The close is seen in Kamailio's TCP main process, which cannot send on TCP: the BYE to a
    caller on TCP must still leave (from the timer process that ends vanished agents' calls)."""
    agent = open_agent(client, "1001")
    caller = peer.start("uac_hungup.xml", [["1002", "demo.test", PASSWORDS["1002"], "1001"]], port=peer.next_port(),
                        transport="t1", extra=["-au", "1002", "-ap", PASSWORDS["1002"], "-rtp_echo"])
    agent.run("agent.answer(10000)")
    assert_media(agent, browser_edge)
    agent.page.context.close()
    code, out = finish(caller, timeout=20)  # the sipp caller got a BYE over TCP and answered it
    assert code == 0, out
    assert wait_for(lambda: not browser_state.registrations.bindings("demo", "1001"), 10), "agent 1001 still registered"


CARRIER = Gateway(id="aa-browser-test", address="", priority=0, codecs=["PCMU"])
PCMU_ONLY = (  # the carrier's sipp fails the call unless the offer carries PCMU alone (and DTMF events)
    '<action><ereg regexp="m=audio [0-9]+ RTP/AVP 0 [0-9]+[^ 0-9]" search_in="body" check_it="true" '
    'assign_to="offer"/><ereg regexp="telephone-event/8000" search_in="body" check_it="true" assign_to="dtmf"/>'
    '<log message="offer [$offer] [$dtmf]"/></action>'  # sipp wants variables used twice
)


def test_browser_on_opus_calls_a_pcmu_gateway_through_the_transcoder(
    client, open_agent, browser_edge, browser_state, peer, browser_net
) -> None:
    port = peer.next_port()
    gateway = replace(CARRIER, address=f"sip:{browser_net.host_ip}:{port}")
    browser_state.directory.save_gateway(gateway)
    try:
        carrier = pcmu_uas(peer, port, offer_check=PCMU_ONLY)
        time.sleep(0.3)
        agent = open_agent(client, "1001")
        agent.run("agent.call(arg)", "+5511999990001")
        assert_media(agent, browser_edge)
        assert agent.stats()["codec"] == "audio/opus"
        assert transcoded(browser_edge.settings.rtpengine_ng) >= 1
        agent.run("agent.hangup()")
        code, out = finish(carrier)
        assert code == 0, out
    finally:
        browser_state.directory.delete_gateway(gateway.id)


INSERT_DTMF = """async digit => {
  const sender = agent.peer().getSenders().find((s) => s.track && s.track.kind === "audio");
  // True once media flows and the answer carried telephone-event.
  for (let i = 0; i < 100 && !sender.dtmf.canInsertDTMF; i++) await new Promise((r) => setTimeout(r, 50));
  if (!sender.dtmf.canInsertDTMF) throw new Error("no telephone-event to send with");
  sender.dtmf.insertDTMF(digit, 200, 70);
  return agent.peer().currentRemoteDescription.sdp;
}"""


def test_browser_dtmf_reaches_a_pcmu_carrier_as_telephone_events(
    client, open_agent, browser_edge, browser_state, peer, browser_net
) -> None:
    """The browser (Opus, RFC 4733 at 48 kHz) sends a digit; the G.711 carrier gets it as
    telephone-event at 8 kHz, converted by rtpengine's transcoder."""
    port = peer.next_port()
    gateway = replace(CARRIER, address=f"sip:{browser_net.host_ip}:{port}")
    browser_state.directory.save_gateway(gateway)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as media:
            media.bind((browser_net.host_ip, 0))
            audio = dtmf.sdp_audio(media.getsockname()[1], "PCMU", 0, dtmf.OFFERED_EVENT_PT)
            carrier, log = traced_peer(peer, port, "uas_echo.xml", audio=audio, ring_ms=200,
                                       offer_check=dtmf.TAKE_OFFERED_EVENT_PT)
            agent = open_agent(client, "1001")
            agent.run("agent.call(arg)", "+5511999990001")
            answer = str(agent.page.evaluate(INSERT_DTMF, "5"))
            heard = dtmf.events_received(media, 5)
            offer = received(log, "INVITE ")[-1].split("\n\n", 1)[1]
            assert {e.digit for e in heard} == {"5"} and any(e.end for e in heard), heard
            assert {e.payload_type for e in heard} == {dtmf.event_payload_type(offer)}
            # The browser is on Opus, its events at Opus's rate; the carrier on G.711 at 8 kHz.
            assert "opus/48000" in answer and "telephone-event/48000" in answer, answer
            agent.run("agent.hangup()")
            code, out = finish(carrier)
            assert code == 0, out
    finally:
        browser_state.directory.delete_gateway(gateway.id)


def test_browser_answering_a_pcmu_phone_sends_dtmf_as_telephone_events(
    client, open_agent, browser_edge, peer, browser_net
) -> None:
    """The other media path: the G.711 phone offers, the browser (Opus) answers, and its
    digit reaches the phone as telephone-event with the phone's own payload type."""
    agent = open_agent(client, "1001")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as media:
        media.bind((browser_net.host_ip, 0))
        audio = dtmf.sdp_audio(media.getsockname()[1], "PCMU", 0, event_pt=101)
        caller = peer.start("uac_media.xml", [["1002", "demo.test", PASSWORDS["1002"], "1001"]],
                            port=peer.next_port(), values={"steps": pause(4000), "bye_cseq": 3, "audio": audio},
                            extra=["-au", "1002", "-ap", PASSWORDS["1002"]])
        agent.run("agent.answer(10000)")
        offer = str(agent.page.evaluate(INSERT_DTMF, "7"))
        heard = dtmf.events_received(media, 5)
    assert "opus/48000" in offer and "telephone-event/48000" in offer, offer
    assert {e.digit for e in heard} == {"7"} and any(e.end for e in heard), heard
    assert {e.payload_type for e in heard} == {101}
    code, out = finish(caller)
    assert code == 0, out


# -- the softphone page (JsSIP) the edge serves, over wss:// through haproxy -------------------
SALES = {"name": "Demo Sales", "allowed_country_codes": ["55"], "default_country": "55",
         "emergency_numbers": ["190", "192", "193"]}


def test_softphone_page_over_wss_shows_the_pause_block_then_calls(
    browser, browser_edge, browser_net, browser_state, peer
) -> None:
    api(browser_edge, "PUT", "/v1/orgs/demo/companies/sales", {**SALES, "block_calls_during_pause": True})
    api(browser_edge, "PUT", "/v1/orgs/demo/agents/1001/status", {"status": "paused", "pause": "Break"})
    drop_bindings(browser_state, "demo", "1001")
    context = browser.new_context(ignore_https_errors=True)  # the edge's self-signed dev certificate
    try:
        page = context.new_page()
        page.goto(f"https://{browser_net.host_ip}:{browser_edge.settings.wss_port}/")
        page.fill("#user", "1001")
        page.fill("#password", PASSWORDS["1001"])
        page.click("#login")
        expect(page.locator("#reg-state")).to_have_text("registered")
        page.fill("#number", "1002")
        page.click("#call")
        expect(page.locator("#reason")).to_have_text("403 Calls blocked during pause: Break")
        expect(page.locator("#pause-state")).to_contain_text("paused (Break)")

        api(browser_edge, "PUT", "/v1/orgs/demo/agents/1001/status", {"status": "available"})
        phone, _ = pcmu_phone(peer, browser_state)
        page.click("#call")
        expect(page.locator("#call-state")).to_have_text("talking")
        page.add_script_tag(path=str(HARNESS / "common.js"))
        page.evaluate("window.agent = {peer: () => softphone.peer()}")
        agent = AgentPage(page)
        assert_media(agent, browser_edge)
        page.click("#hold")
        expect(page.locator("#call-state")).to_have_text("on hold")
        page.click("#hold")
        expect(page.locator("#call-state")).to_have_text("talking")
        page.click("#hangup")
        expect(page.locator("#call-state")).to_have_text("ended")
        code, out = finish(phone)
        assert code == 0, out
    finally:
        context.close()
        api(browser_edge, "PUT", "/v1/orgs/demo/agents/1001/status", {"status": "available"})
        api(browser_edge, "PUT", "/v1/orgs/demo/companies/sales", {**SALES, "block_calls_during_pause": False})
