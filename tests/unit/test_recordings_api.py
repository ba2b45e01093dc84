"""The recordings API's answers, without Redis or rtpengine: what the SIP side decides
becomes 201, 200 or the refusal's status with a JSON error naming the field at fault."""

from __future__ import annotations

import json
from pathlib import Path

from kemi_app.admin.api import guarded
from kemi_app.admin.app import recording_disk
from kemi_app.admin.calls_api import CallsApi
from kemi_app.admin.router import HttpRequest
from kemi_app.policy.recording import LIMIT, Action, Recording

ATT = "att-0123456789ab-0123456789ab"


def answer(outcome: object, body: object, att: str = ATT) -> tuple[int, object]:
    asked: list[Action] = []

    def record(att_id: str, action: Action) -> object:
        asked.append(action)
        return outcome

    api = CallsApi(None, lambda a, o: None, lambda *request: None, record)  # type: ignore[arg-type]
    req = HttpRequest("POST", f"/v1/calls/{att}/recordings", body=json.dumps(body))
    resp = guarded(api.post_recording)(req, {"attendance": att})
    return resp.status, json.loads(resp.body)


def test_start_stop_and_refusals() -> None:
    rec = Recording(1, "c1", 10.0, "api", "api request")
    status, body = answer(rec, {"action": "start"})
    assert status == 201 and body["n"] == 1 and body["state"] == "recording"
    status, body = answer([rec.stopped(12.0, "api", "api request")], {"action": "stop"})
    assert status == 200 and body["stopped"][0]["stop_reason"] == "api request"
    assert answer(LIMIT, {"action": "start"}) == (409, {"error": "At Most 2 Recordings Per Call"})


def test_bad_requests_name_the_field() -> None:
    assert answer(None, {"action": "pause"}) == (400, {"error": "must be one of start, stop", "field": "action"})
    assert answer(None, {})[0] == 400
    assert answer(None, {"action": "start"}, att="nope")[0] == 404


def test_disk_gauge(tmp_path: Path) -> None:
    family = recording_disk(tmp_path)
    ((_, free),) = family.samples
    assert 0.0 < free <= 1.0
    assert recording_disk(tmp_path / "missing").samples == ()
