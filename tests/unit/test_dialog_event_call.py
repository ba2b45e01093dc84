"""A dialog event's one script call: which keys and arguments an answer or an end sends."""

from __future__ import annotations

from kemi_app.state import keys
from kemi_app.state.agentstate import CALL_ENDED_MEMORY, CALL_RECORD_TTL, CallsChange
from kemi_app.state.dialogevents import DIALOG_EVENT, dialog_event_call
from kemi_app.state.queues import AGENT_CHANGED, PREFIX, WAKE_MEMORY

NODE = "sip:127.0.0.1:5060"
DIALOG = "c1|ft|tt"


def test_an_answer_starts_both_agents_calls_on_the_node() -> None:
    change = CallsChange("org", ["100", "200"], "c1", 12.5, started=True, node=NODE, dialog=DIALOG)
    keys_, args = dialog_event_call(change, "")
    assert keys_ == [keys.call_ended(DIALOG), keys.node_calls(NODE), keys.supervised_call(""),
                     keys.recording_call(""),
                     keys.calls("org", "100"), keys.idle("org", "100"), keys.offer("org", "100"),
                     keys.calls("org", "200"), keys.idle("org", "200"), keys.offer("org", "200")]
    assert args == [PREFIX, "org", "start", "c1", "12.5", str(CALL_RECORD_TTL), str(CALL_ENDED_MEMORY),
                    str(WAKE_MEMORY), "0", "100", "org|100|c1", "200", "org|200|c1"]


def test_an_end_takes_the_calls_supervisors_and_recording_mark() -> None:
    change = CallsChange("org", ["100"], "c1", 13.0, started=False, dialog=DIALOG)
    keys_, args = dialog_event_call(change, "c1")
    assert keys_[:4] == [keys.call_ended(DIALOG), keys.node_calls(""), keys.supervised_call("c1"),
                         keys.recording_call("c1")]
    assert args[2] == "end" and args[8] == "1"
    assert args[9:] == ["100", ""]  # no node: no member of a node's call records


def test_the_ended_marker_falls_back_to_the_call_key() -> None:
    keys_, _ = dialog_event_call(CallsChange("org", ["100"], "c1", 1.0, started=True), "")
    assert keys_[0] == keys.call_ended("c1")


def test_an_end_without_agents_changes_no_agent() -> None:
    keys_, args = dialog_event_call(None, "c9")
    assert keys_[2:] == [keys.supervised_call("c9"), keys.recording_call("c9")]
    assert args[2] == "" and args[8] == "1" and len(args) == 9


def test_both_scripts_share_one_agent_changed_function() -> None:
    for script in (AGENT_CHANGED, DIALOG_EVENT):
        assert script.count("local function agent_changed(") == 1
