"""The dialog key an answer and an end of one dialog name alike (sip/dialogs.calls_change):
an end handled before its answer keeps the answer from recording the call again."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any, cast

import pytest

from kemi_app.settings import Settings
from tests.unit import fake_ksr

DIALOG = {"$dlg(callid)": "call-1", "$dlg(from_tag)": "caller-tag"}


@pytest.fixture(autouse=True)
def _real_ksr_after() -> Iterator[None]:
    yield
    fake_ksr.uninstall()


def _dialog_key(evname: str, pvs: dict[str, str]) -> str:
    fake_ksr.install(pvs)
    dialogs = importlib.import_module("kemi_app.sip.dialogs")
    callstate = importlib.import_module("kemi_app.sip.callstate")
    context = importlib.import_module("kemi_app.sip.context")
    ctx = context.Context(Settings.from_env({}), state=cast(Any, None))
    change = dialogs.calls_change(ctx, callstate.CallRecord(org="org", agents=["100"]), evname,
                                  pvs["$dlg(callid)"])
    assert change is not None
    return str(change.dialog)


def test_an_answer_and_an_end_name_one_dialog() -> None:
    # On dialog:start the dialog module has no callee tag yet; the 2xx being handled has it.
    start = _dialog_key("dialog:start", {**DIALOG, "$dlg(to_tag)": "", "$tt": "callee-tag"})
    # The BYE may come from the callee: its To tag is the caller's, the dialog's is the callee's.
    end = _dialog_key("dialog:end", {**DIALOG, "$dlg(to_tag)": "callee-tag", "$tt": "caller-tag"})
    assert start == end == "call-1|caller-tag|callee-tag"
