"""A browser agent (JsSIP and SIP.js, on Opus) records its call with a PCMU phone from its
own client: an INFO with `Record: on` / `off`. The WAV files hold both parties' audio: the
phone's tone (PCMU) and the browser's fake microphone (Opus, decoded by libopus)."""

from __future__ import annotations

from pathlib import Path

from tests.browser.conftest import PASSWORDS
from tests.browser.test_browser_calls import PCMU_PHONE, assert_media, client, tone  # noqa: F401 (fixtures)
from tests.integration.helpers import finish
from tests.integration.rtp import pause, play, wait_for
from tests.integration.test_recordings import assert_plays


def test_the_browser_agent_records_its_call_from_its_client(
    client, open_agent, browser_edge, browser_state, peer, tone  # noqa: F811
) -> None:
    agent = open_agent(client, "1001")
    caller = peer.start("uac_media.xml", [["1002", "demo.test", PASSWORDS["1002"], "1001"]], port=peer.next_port(),
                        values={"steps": play(tone) + pause(7000), "bye_cseq": 3, "audio": PCMU_PHONE},
                        extra=["-au", "1002", "-ap", PASSWORDS["1002"]])
    agent.run("agent.answer(10000)")
    assert_media(agent, browser_edge)
    assert agent.run("agent.record('on')") == 200
    assert agent.run("agent.record('on')") == 409
    wait_for(lambda: False, 3.0)
    assert agent.run("agent.record('off')") == 200
    code, out = finish(caller)
    assert code == 0, out
    att = browser_state.history.recent_attendances("demo", "1001")[0]
    done = wait_for(lambda: [r for r in browser_state.recordings.of(att) if r.state in ("ready", "failed")], 40)
    assert len(done) == 1, browser_state.recordings.of(att)
    (rec,) = done
    assert (rec.started_by, rec.stopped_by) == ("1001", "1001")
    assert abs(rec.duration - (rec.stopped_at - rec.started_at)) < 0.5, rec
    assert_plays(rec)
    assert Path(rec.file).stat().st_size > 40000  # 3 s of 8 kHz 16-bit audio
