"""A dialog event's write in the history writes' script: which keys and values an answer or
an end sends."""

from __future__ import annotations

import json

from kemi_app.state import keys
from kemi_app.state.agentstate import CALL_ENDED_MEMORY, CALL_RECORD_TTL, DIALOG_EVENT_LUA, CallsChange, dialog_write
from kemi_app.state.attendance import WRITE, encoded
from kemi_app.state.queues import AGENT_CHANGED, PREFIX, WAKE_MEMORY

NODE = "sip:127.0.0.1:5060"
DIALOG = "c1|ft|tt"


def test_an_answer_starts_both_agents_calls_on_the_node() -> None:
    change = CallsChange("org", ["100", "200"], "c1", 12.5, started=True, node=NODE, dialog=DIALOG)
    keys_, write = dialog_write(change, "")
    assert keys_ == [keys.call_ended(DIALOG), keys.node_calls(NODE), keys.supervised_call(""),
                     keys.recording_call(""),
                     keys.calls("org", "100"), keys.idle("org", "100"), keys.offer("org", "100"),
                     keys.calls("org", "200"), keys.idle("org", "200"), keys.offer("org", "200")]
    assert write == {"dlg": {
        "P": PREFIX, "org": "org", "mode": "start", "call": "c1", "now": "12.5", "ttl": CALL_RECORD_TTL,
        "ended_ttl": CALL_ENDED_MEMORY, "wake_ttl": WAKE_MEMORY, "ended": "", "exts": ["100", "200"],
        "members": ["org|100|c1", "org|200|c1"]}}


def test_an_end_takes_the_calls_supervisors_and_recording_mark() -> None:
    change = CallsChange("org", ["100"], "c1", 13.0, started=False, dialog=DIALOG)
    keys_, write = dialog_write(change, "c1")
    assert keys_[:4] == [keys.call_ended(DIALOG), keys.node_calls(""), keys.supervised_call("c1"),
                         keys.recording_call("c1")]
    assert write["dlg"]["mode"] == "end" and write["dlg"]["ended"] == "c1"
    assert write["dlg"]["members"] == [""]  # no node: no member of a node's call records


def test_the_time_keeps_pythons_exact_text() -> None:
    now = 1796069360.8977523
    _, write = dialog_write(CallsChange("org", ["100"], "c1", now, started=True), "")
    assert write["dlg"]["now"] == json.dumps(now)


def test_the_ended_marker_falls_back_to_the_call_key() -> None:
    keys_, _ = dialog_write(CallsChange("org", ["100"], "c1", 1.0, started=True), "")
    assert keys_[0] == keys.call_ended("c1")


def test_an_end_without_agents_changes_no_agent() -> None:
    keys_, write = dialog_write(None, "c9")
    assert keys_[2:] == [keys.supervised_call("c9"), keys.recording_call("c9")]
    assert write["dlg"]["mode"] == "" and write["dlg"]["exts"] == []


def test_a_dialog_event_and_its_history_make_one_piece() -> None:
    piece = encoded([dialog_write(None, "c9"), ([keys.attendance("a1")], {"att": "a1", "minid": ""})])
    assert piece.keys == [*dialog_write(None, "c9")[0], keys.attendance("a1")]
    assert json.loads(f"[{piece.json}]")[1] == {"att": "a1", "minid": ""}


def test_both_scripts_share_one_agent_changed_function() -> None:
    for script in (AGENT_CHANGED, WRITE.text):
        assert script.count("local function agent_changed(") == 1
    assert WRITE.text.count(DIALOG_EVENT_LUA) == 1
