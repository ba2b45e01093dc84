"""Recording decisions: the per-call limit, one at a time, the automatic rules, INFO words."""

from __future__ import annotations

from kemi_app.policy.recording import (
    ALREADY,
    LIMIT,
    MAX_PER_CALL,
    RECORDING,
    STOPPED,
    Action,
    Recording,
    automatic_reason,
    parse_action,
    start_refusal,
    to_stop,
)
from kemi_app.provisioning.agent import Agent
from kemi_app.provisioning.gateway import Gateway
from kemi_app.provisioning.service import Service


def rec(n: int, call_id: str = "c1", state: str = RECORDING) -> Recording:
    return Recording(n, call_id, 100.0 + n, "api", "api request", state=state)


def test_a_call_is_recorded_once_at_a_time() -> None:
    assert start_refusal([rec(1)], "c1") is ALREADY
    assert start_refusal([rec(1, state=STOPPED)], "c1") is None


def test_a_third_recording_is_refused() -> None:
    done = [rec(n, state=STOPPED) for n in range(1, MAX_PER_CALL + 1)]
    assert start_refusal(done, "c1") is LIMIT
    assert LIMIT.status == 409 and "2" in LIMIT.reason


def test_stop_names_only_the_running_recordings_of_the_call() -> None:
    existing = [rec(1, "c1", STOPPED), rec(2, "c2")]
    assert to_stop(existing, "c1") == []
    assert to_stop(existing, "c2") == [existing[1]]
    assert to_stop(existing, "") == [existing[1]]


def test_record_round_trips_as_json() -> None:
    stopped = rec(2).stopped(110.0, "1001", "transfer")
    assert Recording.from_json(stopped.to_json()) == stopped
    assert stopped.state == STOPPED and stopped.stopped_by == "1001"


def test_info_words() -> None:
    assert parse_action(" On ") is Action.START and parse_action("start") is Action.START
    assert parse_action("off") is Action.STOP and parse_action("STOP") is Action.STOP
    assert parse_action("pause") is None


def test_automatic_rules_queue_then_gateway_then_agents() -> None:
    agent = Agent("1001", "0" * 32, record_calls=True)
    quiet = Agent("1002", "0" * 32)
    queue = Service("800", "queue", "Sales", record_calls=True)
    gateway = Gateway("gw1", "sip:127.0.0.1:5080", record_calls=True)
    assert automatic_reason((agent,), queue, gateway) == "queue 800"
    assert automatic_reason((quiet,), Service("800", "queue", "Sales"), gateway) == "gateway gw1"
    assert automatic_reason((quiet, agent, None)) == "agent 1001"
    assert automatic_reason((quiet, None), Service("800", "queue", "Sales"), Gateway("g", "sip:h:1")) == ""
