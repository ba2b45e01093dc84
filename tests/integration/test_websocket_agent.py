"""Agents on SIP over WebSocket: registration and calls through the browser-style contact."""

from __future__ import annotations

import threading

from edgeops.stack import Stack
from tests.integration.helpers import call
from tests.sipp import Sipp
from tests.state_kit import drop_bindings
from tests.ws_agent import WsAgent


def ws_url(edge: Stack) -> str:
    return f"ws://127.0.0.1:{edge.settings.ws_port}"


def test_ws_agent_registers_and_receives_a_call(edge: Stack, sipp: Sipp, state) -> None:
    drop_bindings(state, "demo", "1002")
    agent = WsAgent(ws_url(edge), "1002", "demo.test", "demo1002")
    assert agent.register() == 200
    (binding,) = state.registrations.bindings("demo", "1002")
    assert binding.received.endswith(";transport=ws") and binding.conn_id > 0
    answered: list[str] = []

    def phone() -> None:
        answered.append(agent.answer_next_invite())
        answered.append(agent.answer_bye())

    thread = threading.Thread(target=phone, daemon=True)
    thread.start()
    result = call(sipp, "1001", "1002")
    thread.join(10)
    assert result.ok, result.output + result.errors
    assert len(answered) == 2 and answered[0] == answered[1]
    agent.ws.close()
