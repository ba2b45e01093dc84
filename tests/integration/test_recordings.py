"""Call recording with real media: a carrier customer and an agent phone (sipp) each play a
known tone through rtpengine; the WAV files the edge writes are measured with sox.

The agent's own client starts and stops recordings with an in-dialog INFO carrying
`Record: on|off`; the API does the same by attendance; a queue's rule records from the
answer; a transfer stops the recording."""

from __future__ import annotations

import base64
import re
import subprocess
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from edgeops.stack import Stack
from kemi_app.policy.recording import FAILED, READY, Recording
from kemi_app.provisioning.gateway import Gateway
from kemi_app.state import EdgeState, keys
from tests.g711 import tone_pcap
from tests.integration.api_client import api
from tests.integration.contact_centre import DID, DOMAIN, PASSWORD, QUEUE, ContactCentre
from tests.integration.helpers import answer_one, call, finish
from tests.integration.rtp import pause, play, wait_for
from tests.sipp import Sipp

CUSTOMER_HZ, AGENT_HZ = 440.0, 1000.0
MIN_RMS = 0.05  # sox's RMS of a tone at a quarter of full scale is ~0.18; silence is 0
WAIT_BYE = """  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"""


def in_dialog(cseq: int, method: str, headers: str, expect: int) -> str:
    """A request from the agent's phone inside the call, and the answer it expects."""
    return f"""  <send retrans="500">
    <![CDATA[
      {method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From:[$me]
      To:[$caller]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      {headers}
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="{expect}"/>
"""


def record(cseq: int, word: str, expect: int = 200) -> str:
    return in_dialog(cseq, "INFO", f"Record: {word}", expect)


def transfer(cseq: int, target: str) -> str:
    bye = in_dialog(cseq + 1, "BYE", "", 200)
    return in_dialog(cseq, "REFER", f"Refer-To: <sip:{target}@{DOMAIN}>", 202) + bye


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("tones")
    return {"customer": str(tone_pcap(d / "customer.pcap", "PCMU", 12.0, CUSTOMER_HZ)),
            "agent": str(tone_pcap(d / "agent.pcap", "PCMU", 12.0, AGENT_HZ))}


@pytest.fixture
def cc(centre: ContactCentre) -> ContactCentre:
    centre.reset()
    centre.login("3001")
    for ext in ("3002", "3003"):
        centre.pause(ext)  # queue calls go to 3001
    return centre


def queue_records(cc: ContactCentre, on: bool) -> None:
    service = cc.state.directory.get_service("cc", QUEUE)
    assert service is not None
    cc.state.directory.save_service("cc", replace(service, record_calls=on))


def agent_phone(cc: ContactCentre, sipp: Sipp, tones: dict[str, str], steps: str, ending: str = WAIT_BYE):
    return answer_one(sipp, cc.agent_ports["3001"], "agent_record.xml", pcap=tones["agent"], steps=steps,
                      ending=ending)


def customer(cc: ContactCentre, sipp: Sipp, tones: dict[str, str], hold_ms: int):
    return cc.sipp.start("customer_call.xml", [[DID]], port=cc.customer_ports[0],
                         values={"steps": play(tones["customer"]), "hold_ms": hold_ms})


def all_ok(*procs: subprocess.Popen[str]) -> None:
    for proc in procs:
        code, out = finish(proc)
        assert code == 0, out[-3000:]


def settled(state: EdgeState, att: str, count: int) -> list[Recording]:
    """The attendance's `count` recordings once every one has its files (or failed)."""

    def done() -> list[Recording]:
        recs = state.recordings.of(att)
        return recs if len(recs) == count and all(r.state in (READY, FAILED) for r in recs) else []

    recs = wait_for(done, 40)
    assert recs, state.recordings.of(att)
    return recs


def rms(path: str) -> float:
    out = subprocess.run(["sox", path, "-n", "stat"], capture_output=True, text=True, timeout=30).stderr
    found = re.search(r"RMS\s+amplitude:\s+([0-9.]+)", out)
    assert found, out
    return float(found.group(1))


def assert_plays(rec: Recording) -> None:
    """Both parties' audio is in the mixed file and in one file each: none is silence."""
    assert rec.state == READY, rec
    assert Path(rec.file).exists() and len(rec.parties) == 2, rec
    assert rec.size == sum(Path(p).stat().st_size for p in (rec.file, *rec.parties))
    for path in (rec.file, *rec.parties):
        assert rms(path) > MIN_RMS, f"{path} is silence"


def test_a_queue_rule_records_the_whole_call(cc: ContactCentre, sipp: Sipp, tones: dict[str, str]) -> None:
    queue_records(cc, True)
    phone = agent_phone(cc, sipp, tones, "")
    caller = customer(cc, sipp, tones, 4000)
    all_ok(caller, phone)
    att = cc.last_attendance("3001")
    (rec,) = settled(cc.state, att, 1)
    assert (rec.started_by, rec.start_reason, rec.stop_reason) == ("rule", f"queue {QUEUE}", "call ended")
    history = cc.state.history.attendance_history(att)
    answered = next(e.at for e in history if e.event == "answer")
    ended = next(e.at for e in history if e.event == "end")
    assert abs(rec.duration - (ended - answered)) < 0.5, (rec.duration, ended - answered)
    assert_plays(rec)
    assert [(e.result, e.actor, e.reason) for e in history if e.event == "recording"] == [
        ("started", "rule", f"queue {QUEUE}"), ("stopped", "edge", "call ended")]


def test_a_gateway_rule_records_outbound_calls(cc: ContactCentre, sipp: Sipp, tones: dict[str, str]) -> None:
    port = sipp.next_port()
    cc.state.directory.save_gateway(Gateway("cc-recorded", f"sip:127.0.0.1:{port}", 0, record_calls=True))
    try:
        carrier = answer_one(sipp, port, "agent_record.xml", pcap=tones["agent"], steps="", ending=WAIT_BYE)
        result = call(sipp, "3001", "+5511988887777", domain=DOMAIN, password=PASSWORD, hold_ms=2000)
        assert result.ok, result.output + result.errors
        all_ok(carrier)
    finally:
        cc.state.directory.delete_gateway("cc-recorded")
    (rec,) = settled(cc.state, cc.last_attendance("3001"), 1)
    assert (rec.started_by, rec.start_reason, rec.state) == ("rule", "gateway cc-recorded", READY)
    assert abs(rec.duration - 2.0) < 0.5, rec


def test_an_agent_rule_records_the_agents_direct_calls(cc: ContactCentre, sipp: Sipp,
                                                       tones: dict[str, str]) -> None:
    agent = cc.state.directory.get_agent("cc", "3001")
    assert agent is not None
    cc.state.directory.save_agent("cc", replace(agent, record_calls=True))
    callee = cc.login("3002")
    phone = answer_one(sipp, callee, "agent_record.xml", pcap=tones["agent"], steps="", ending=WAIT_BYE)
    result = call(sipp, "3001", "3002", domain=DOMAIN, password=PASSWORD, hold_ms=2000)
    assert result.ok, result.output + result.errors
    all_ok(phone)
    (rec,) = settled(cc.state, cc.last_attendance("3001"), 1)
    assert (rec.started_by, rec.start_reason, rec.state) == ("rule", "agent 3001", READY)


def test_the_agent_records_twice_and_a_third_is_refused(cc: ContactCentre, sipp: Sipp,
                                                        tones: dict[str, str]) -> None:
    queue_records(cc, False)
    steps = (pause(500) + record(2, "on") + record(3, "on", 409) + pause(1500) + record(4, "off")
             + record(5, "off", 409) + pause(300) + record(6, "on") + pause(1500) + record(7, "off")
             + record(8, "on", 409) + record(9, "maybe", 400))
    phone = agent_phone(cc, sipp, tones, steps)
    caller = customer(cc, sipp, tones, 6500)
    all_ok(phone, caller)
    att = cc.last_attendance("3001")
    first, second = settled(cc.state, att, 2)
    for rec in (first, second):
        assert (rec.started_by, rec.stopped_by, rec.stop_reason) == ("3001", "3001", "agent request")
        assert abs(rec.duration - (rec.stopped_at - rec.started_at)) < 0.5, rec
        assert_plays(rec)
    story = [(e.result, e.actor, e.reason) for e in cc.state.history.attendance_history(att)
             if e.event == "recording"]
    assert story == [
        ("started", "3001", "agent request"), ("refused", "3001", "Already Recording"),
        ("stopped", "3001", "agent request"), ("started", "3001", "agent request"),
        ("stopped", "3001", "agent request"), ("refused", "3001", "At Most 2 Recordings Per Call"),
    ]


def test_a_transfer_stops_the_recording(cc: ContactCentre, sipp: Sipp, tones: dict[str, str]) -> None:
    queue_records(cc, True)
    cc.login("3002")
    phone = agent_phone(cc, sipp, tones, pause(1500), ending=transfer(2, "3002"))
    target = answer_one(sipp, cc.agent_ports["3002"])
    referred, dialled = cc.transferred_customer()
    assert referred.ok, referred.output + referred.errors
    assert dialled is not None and dialled.ok, dialled and dialled.output + dialled.errors
    all_ok(phone, target)
    att = cc.last_attendance("3001")
    (rec,) = settled(cc.state, att, 1)
    assert (rec.stopped_by, rec.stop_reason) == ("3001", "transfer")
    assert rec.state == READY and rec.duration > 1.0


def test_the_api_starts_and_stops_a_recording(edge: Stack, cc: ContactCentre, sipp: Sipp,
                                              tones: dict[str, str]) -> None:
    queue_records(cc, False)
    phone = agent_phone(cc, sipp, tones, "")
    caller = customer(cc, sipp, tones, 5000)
    att = wait_for(lambda: cc.state.history.current_attendance("cc", "3001"), 5)
    assert att, "the agent never got the call"
    path = f"/v1/calls/{att}/recordings"
    assert api(edge, "POST", path, {"action": "start"}, token="wrong")[0] == 401
    assert api(edge, "POST", path, {"action": "pause"}) == (400, {"error": "must be one of start, stop",
                                                                  "field": "action"})
    assert api(edge, "POST", "/v1/calls/att-000000000000-000000000000/recordings", {"action": "start"})[0] == 404
    status, started = api(edge, "POST", path, {"action": "start"})
    assert status == 201 and started["started_by"] == "api", started
    assert api(edge, "POST", path, {"action": "start"}) == (409, {"error": "Already Recording"})
    wait_for(lambda: False, 1.5)
    status, stopped = api(edge, "POST", path, {"action": "stop"})
    assert status == 200 and [r["n"] for r in stopped["stopped"]] == [1], stopped
    all_ok(caller, phone)
    (rec,) = settled(cc.state, att, 1)
    assert_plays(rec)
    status, record = api(edge, "GET", f"/v1/attendances/{att}")
    assert status == 200 and [r["file"] for r in record["recordings"]] == [rec.file]
    status, audio = api(edge, "GET", f"/v1/attendances/{att}/recordings/1/audio")
    assert status == 200 and audio["content_type"] == "audio/wav"
    assert base64.b64decode(audio["data"]) == Path(rec.file).read_bytes()
    assert api(edge, "GET", f"/v1/attendances/{att}/recordings/3")[0] == 404
    assert api(edge, "POST", path, {"action": "stop"}) == (404, {"error": "No Call In Progress"})
    scrape = urllib.request.urlopen(edge.admin_url + "/metrics", timeout=5).read().decode()
    assert 'edge_recordings_started_total{org="cc",trigger="api"}' in scrape
    assert re.search(r"^edge_recording_bytes_total [1-9]", scrape, re.M), scrape
    assert re.search(r"^edge_recording_disk_free_ratio 0\.\d+", scrape, re.M)


def test_retention_deletes_files_and_records_together(edge: Stack, cc: ContactCentre, sipp: Sipp,
                                                      tones: dict[str, str]) -> None:
    queue_records(cc, True)
    phone = agent_phone(cc, sipp, tones, "")
    all_ok(customer(cc, sipp, tones, 1500), phone)
    att = cc.last_attendance("3001")
    (rec,) = settled(cc.state, att, 1)
    files = [Path(p) for p in (rec.file, *rec.parties)]
    assert all(p.exists() for p in files)
    # Stopped longer ago than EDGE_RECORDING_RETENTION_DAYS: the node's timer sweeps it.
    kept = keys.recordings_kept(edge.settings.node_uri)
    for entry in cc.state.r.zrange(kept, 0, -1):
        if att in entry:
            cc.state.r.zadd(kept, {entry: rec.stopped_at - 31 * 86400})
    assert wait_for(lambda: not cc.state.recordings.of(att), 5), cc.state.recordings.of(att)
    assert not any(p.exists() for p in files)
    assert [e.result for e in cc.state.history.attendance_history(att) if e.event == "recording"] == [
        "started", "stopped"]
