"""Keepalives on every kind of call: which legs the dialog module pings."""

from __future__ import annotations

from kemi_app.policy.keepalive import TO_CALLEE, TO_CALLER, keepalives


def test_every_leg_the_dialog_module_can_reach_gets_keepalives() -> None:
    assert keepalives(caller_ws=False, callee_ws=False) == (TO_CALLER, TO_CALLEE)  # carrier <-> UDP phone
    assert keepalives(caller_ws=True, callee_ws=False) == (TO_CALLEE,)  # browser -> carrier
    assert keepalives(caller_ws=False, callee_ws=True) == (TO_CALLER,)  # carrier -> browser
    assert keepalives(caller_ws=True, callee_ws=True) == ()
    assert keepalives(caller_ws=False, callee_ws=None) == (TO_CALLER,)  # queue: the callee is known on its answer
