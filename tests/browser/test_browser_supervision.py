"""A supervisor listens, from a plain SIP client, to a customer's call answered by a browser
agent: it receives both parties as real audio (PCMU that is not silence), the browser's Opus
transcoded by rtpengine."""

from __future__ import annotations

import pytest

from edgeops.stack import Stack
from tests.browser.conftest import PASSWORDS
from tests.browser.test_browser_calls import PCMU_PHONE
from tests.g711 import tone_pcap
from tests.integration.api_client import api
from tests.integration.helpers import finish
from tests.integration.media_ua import Phone, talk
from tests.integration.rtp import pause, play, wait_for

SUPERVISOR, SUPERVISOR_PASSWORD = "1090", "supervise1090"


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What the customer's PCMU phone plays: real audio the supervisor must hear."""
    return str(tone_pcap(tmp_path_factory.mktemp("tone") / "customer.pcap", "PCMU", seconds=10))


@pytest.fixture(scope="module", autouse=True)
def supervisor_agent(browser_edge: Stack) -> None:
    status, body = api(browser_edge, "PUT", f"/v1/orgs/demo/agents/{SUPERVISOR}",
                       {"password": SUPERVISOR_PASSWORD, "company": "sales", "supervisor": True})
    assert status in (200, 201), body


@pytest.mark.parametrize("client", ["jssip"])
def test_supervisor_listens_to_a_browser_agents_call(client, open_agent, browser_edge, browser_state, peer,
                                                     tone) -> None:
    agent = open_agent(client, "1001")
    customer = peer.start("uac_media.xml", [["1002", "demo.test", PASSWORDS["1002"], "1001"]],
                          port=peer.next_port(), values={"steps": play(tone) + pause(8000), "bye_cseq": 3,
                                                         "audio": PCMU_PHONE},
                          extra=["-au", "1002", "-ap", PASSWORDS["1002"]])
    agent.run("agent.answer(10000)")
    assert wait_for(lambda: browser_state.r.hlen("edge:calls:demo:1001") == 1, 5)
    supervisor = Phone((browser_edge.settings.sip_addr, browser_edge.settings.sip_port), SUPERVISOR,
                       SUPERVISOR_PASSWORD, "demo.test", 0x33)
    try:
        supervising = supervisor.call("*511001")
        assert supervising.status == 200, supervising
        talk([supervisor], 4.0)
        loud = supervisor.loud
        assert len(loud) == 2 and min(loud.values()) >= 10, loud  # both parties, audible
        assert supervisor.hang_up(supervising) == 200
    finally:
        supervisor.close()
    code, out = finish(customer)
    assert code == 0, out
