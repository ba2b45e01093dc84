"""The body of a recording request made through the API."""

from __future__ import annotations

from kemi_app.policy.recording import Action
from kemi_app.provisioning import fields as f

RECORDING_REQUEST = f.Entity("RecordingRequest", key=None, fields=(
    f.choice("action", tuple(a.value for a in Action)),
))


def parse_recording_request(payload: object) -> Action:
    return Action(RECORDING_REQUEST.parse(payload)["action"])
