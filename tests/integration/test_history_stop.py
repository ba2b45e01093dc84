"""History written by its own process (kemi_app/sip/history.py) is not lost on a clean stop:
the launcher waits for the writer to write everything it was handed before it stops Kamailio."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from edgeops.stack import Stack
from kemi_app.policy.digest import ha1
from kemi_app.provisioning.agent import Agent
from kemi_app.provisioning.company import Company
from kemi_app.state import EdgeState, connect
from tests.conftest import edge_environment, pick_port_base, sipp_peers, unsupervised
from tests.integration.contact_centre import DOMAIN, ORG, PASSWORD, ContactCentre
from tests.integration.helpers import call

CALLS = 4
AGENT = "3001"


def history_writer(stack: Stack) -> int:
    """PID of Kamailio's history writer process (kamailio.cfg: its rtimer)."""
    psx = stack.kamcmd("core.psx")
    found = re.search(r"PID:\s*(\d+)\s*DSC:\s*RTIMER EXEC child=0 timer=history\n", psx)
    assert found, psx
    return int(found.group(1))


def test_a_clean_stop_writes_every_queued_history_event(tmp_path: Path) -> None:
    env = edge_environment(pick_port_base(), tmp_path / "edge")
    (tmp_path / "sipp").mkdir()
    with unsupervised(env) as stack, sipp_peers(stack, tmp_path / "sipp") as sipp:
        state = EdgeState(connect(stack.settings.effective_redis_url))
        centre = ContactCentre.provision(state, sipp)
        state.directory.save_company(ORG, Company("strict", "Strict", block_calls_during_pause=True))
        state.directory.save_agent(ORG, Agent(AGENT, ha1(AGENT, DOMAIN, PASSWORD), company="strict"))
        centre.login(AGENT)
        centre.pause(AGENT, "Training")
        # The writer is held still: every call's history waits in the queue when the stop begins.
        writer = history_writer(stack)
        os.kill(writer, signal.SIGSTOP)
        try:
            for _ in range(CALLS):
                result = call(sipp, AGENT, "+5511987654321", scenario="uac_refused.xml", expect=403, domain=DOMAIN,
                              password=PASSWORD)
                assert result.ok, result.output + result.errors
            assert stack.history_lag() == CALLS
        finally:
            os.kill(writer, signal.SIGCONT)
        stack.stop()

    with unsupervised(env) as again:  # the same Redis data (append-only file), read back
        history = EdgeState(connect(again.settings.effective_redis_url)).history
        atts = history.recent_attendances(ORG, AGENT, CALLS + 1)
        assert len(atts) == CALLS
        for att in atts:
            assert [(e.event, e.result) for e in history.attendance_history(att)] == [
                ("start", ""), ("refused", "pause"), ("end", "refused")]
