"""Refusals leave a history too: a call refused by the pause rule or the country rule still
gets an attendance whose events say what was refused and why."""

from __future__ import annotations

import time

import pytest

from kemi_app.policy.digest import ha1
from kemi_app.provisioning.agent import Agent
from kemi_app.provisioning.company import Company
from tests.integration.contact_centre import DOMAIN, PASSWORD, ContactCentre
from tests.integration.helpers import call
from tests.sipp import Sipp


@pytest.fixture
def agent(centre: ContactCentre) -> str:
    """3001 in a company that blocks calls during pause, logged in after the company was set."""
    centre.reset()
    centre.state.directory.save_company("cc", Company("strict", "Strict", block_calls_during_pause=True))
    centre.state.directory.save_agent("cc", Agent("3001", ha1("3001", DOMAIN, PASSWORD), company="strict"))
    centre.login("3001")
    return "3001"


def story(centre: ContactCentre, started: float) -> list[tuple[str, str, str]]:
    att = centre.last_attendance("3001")
    record = centre.state.history.attendance(att)
    assert record is not None and record.created_at >= started
    return [(e.event, e.target, e.result) for e in centre.state.history.attendance_history(att)]


@pytest.mark.parametrize(
    ("paused", "number", "rule", "reason"),
    [
        (True, "+5511987654321", "pause", "Calls blocked during pause: Training"),
        (False, "+14155550100", "country", "International destination not authorised"),
    ],
)
def test_refusal_is_recorded(centre: ContactCentre, sipp: Sipp, agent: str, paused: bool, number: str, rule: str,
                             reason: str) -> None:
    if paused:
        centre.pause(agent, "Training")
    started = time.time()
    result = call(sipp, agent, number, scenario="uac_refused.xml", expect=403, domain=DOMAIN, password=PASSWORD)
    assert result.ok, result.output + result.errors
    assert story(centre, started) == [("start", number, ""), ("refused", number, rule), ("end", "", "refused")]
    assert centre.state.history.attendance_history(centre.last_attendance(agent))[1].reason == reason
