"""The reconcile's diff: call records and rtpengine sessions without a live dialog."""

from __future__ import annotations

from kemi_app.policy.reconcile import Dialog, NodeCall, orphan_sessions, phantom_records

LIVE = [Dialog("c1", 4), Dialog("c2", 2)]


def test_records_with_a_live_dialog_stay() -> None:
    assert phantom_records(["cc|3001|c1", "cc|3002|c2"], LIVE) == []


def test_records_without_a_dialog_are_phantoms() -> None:
    assert phantom_records(["cc|3001|c1", "cc|3002|gone", "demo|1001|gone2"], LIVE) == [
        NodeCall("cc|3002|gone", "cc", "3002", "gone"), NodeCall("demo|1001|gone2", "demo", "1001", "gone2"),
    ]


def test_both_agents_of_one_dead_call_are_freed() -> None:
    phantoms = phantom_records(["cc|3001|x", "cc|3002|x"], [])
    assert [(p.ext, p.call_id) for p in phantoms] == [("3001", "x"), ("3002", "x")]


def test_a_terminated_dialog_does_not_keep_its_record() -> None:
    assert phantom_records(["cc|3001|c3"], [Dialog("c3", 5)]) == [NodeCall("cc|3001|c3", "cc", "3001", "c3")]


def test_call_ids_may_hold_the_separator() -> None:
    assert phantom_records(["cc|3001|a|b@host"], [Dialog("a|b@host", 4)]) == []
    assert phantom_records(["cc|3001|a|b@host"], []) == [NodeCall("cc|3001|a|b@host", "cc", "3001", "a|b@host")]


def test_unreadable_members_are_dropped_too() -> None:
    assert phantom_records(["garbage", "cc||x"], LIVE) == [NodeCall("cc||x"), NodeCall("garbage")]


def test_no_records_nothing_to_do() -> None:
    assert phantom_records([], LIVE) == []


def test_sessions_without_a_live_dialog_are_orphans() -> None:
    assert orphan_sessions(["c1", "lost", "c2", "lost"], [*LIVE, Dialog("ended", 5)]) == ["lost"]
    assert orphan_sessions(["ended"], [Dialog("ended", 5)]) == ["ended"]
    assert orphan_sessions([], LIVE) == []
