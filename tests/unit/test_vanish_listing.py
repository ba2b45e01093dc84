"""Which of a vanished agent's dialogs are ended with a BYE (sip/vanish.answered_over), as
dlg.profile_list lists them: a call still ringing has no callee contact yet and no BYE to send."""

from __future__ import annotations

import importlib
import json

from kemi_app.policy.registration import Binding
from tests.unit import fake_ksr

GONE = Binding("sip:1002@abc.invalid;transport=ws", "sip:127.0.0.1:40000;transport=ws", "ws:127.0.0.1:8080",
               "sip:127.0.0.1:5060", 0.0, "c", 1, conn_id=7)


def listed(*dialogs: dict) -> list[dict]:
    fake_ksr.install({"$jsonrpl(body)": json.dumps({"result": list(dialogs)})})
    try:
        vanish = importlib.import_module("kemi_app.sip.vanish")
        return vanish.answered_over(vanish.agent_dialogs("demo:1002"), [GONE.contact])
    finally:
        fake_ksr.uninstall()


def test_only_answered_calls_over_the_vanished_connection_are_ended() -> None:
    answered = {"call-id": "a", "state": 4, "caller": {"contact": "sip:1001@127.0.0.1:5070", "tag": "x"},
                "callee": {"contact": "sip:1002@abc.invalid;transport=ws;alias=127.0.0.1~40000~6", "tag": "y"}}
    ringing = {"call-id": "b", "state": 2, "caller": {"contact": "sip:1003@127.0.0.1:5071", "tag": "z"},
               "callee": {"contact": None, "tag": None}}
    placed = {"call-id": "c", "state": 4, "caller": {"contact": "sip:1002@abc.invalid;transport=ws", "tag": "v"},
              "callee": {"contact": "sip:+5511@127.0.0.1:5080", "tag": "w"}}
    elsewhere = {"call-id": "d", "state": 4, "caller": {"contact": "sip:1002@other.invalid;transport=ws", "tag": "u"},
                 "callee": None}
    assert [d["call-id"] for d in listed(answered, ringing, placed, elsewhere)] == ["a", "c"]
