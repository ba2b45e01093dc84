"""A carrier customer's call into a queue that records its calls, answered by a browser agent
(JsSIP and SIP.js, on Opus; the customer on PCMU): the queue's rule records from the
answer; the agent stops that recording and starts its own from its client (an INFO with
`Record: off` / `on`), which the end of the call stops. Both WAV files hold both parties:
the customer's tone (PCMU) and the browser's fake microphone (Opus, decoded by libopus)."""

from __future__ import annotations

import time

from kemi_app.provisioning.did import Did
from kemi_app.provisioning.gateway import Gateway
from kemi_app.provisioning.service import Service
from kemi_app.state.lookups import GATEWAY_VERSION_SECONDS
from tests.browser.test_browser_calls import assert_media, client, tone  # noqa: F401 (fixtures)
from tests.integration.helpers import finish
from tests.integration.rtp import play, wait_for
from tests.integration.test_recordings import assert_plays, settled

QUEUE, DID = "810", "+551140000810"


def test_a_queue_rule_and_the_browser_agent_record_a_carrier_call(
    client, open_agent, browser_edge, browser_state, peer, browser_net, tone  # noqa: F811
) -> None:
    port = peer.next_port()
    gateway = Gateway("aa-recorded-carrier", f"sip:{browser_net.host_ip}:{port}", 0, ["PCMU"])
    browser_state.directory.save_gateway(gateway)
    browser_state.directory.save_service("demo", Service(QUEUE, "queue", "Recorded", members=["1001"],
                                                         record_calls=True))
    browser_state.directory.save_did(Did(DID, "demo", QUEUE))
    try:
        agent = open_agent(client, "1001")
        time.sleep(GATEWAY_VERSION_SECONDS + 0.2)  # workers see the new gateway
        customer = peer.start("customer_call.xml", [[DID]], port=port,
                              values={"steps": play(tone), "hold_ms": 8000})
        agent.run("agent.answer(10000)")
        assert_media(agent, browser_edge)
        wait_for(lambda: False, 2.0)
        assert agent.run("agent.record('on')") == 409  # the queue's rule records already
        assert agent.run("agent.record('off')") == 200
        assert agent.run("agent.record('on')") == 200
        code, out = finish(customer)
        assert code == 0, out
    finally:
        browser_state.directory.delete_gateway(gateway.id)
    att = browser_state.history.recent_attendances("demo", "1001")[0]
    by_rule, by_agent = settled(browser_state, att, 2)
    assert (by_rule.started_by, by_rule.start_reason, by_rule.stopped_by) == ("rule", f"queue {QUEUE}", "1001")
    assert (by_agent.started_by, by_agent.stopped_by, by_agent.stop_reason) == ("1001", "edge", "call ended")
    for rec in (by_rule, by_agent):
        assert rec.duration > 1.5, rec
        assert abs(rec.duration - (rec.stopped_at - rec.started_at)) < 0.5, rec
        assert_plays(rec)
