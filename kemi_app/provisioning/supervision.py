"""The body of a supervision request made through the API: who supervises, and how."""

from __future__ import annotations

from kemi_app.extensions import AGENT_LENGTHS
from kemi_app.policy.feature_codes import Feature
from kemi_app.policy.supervision import MODES
from kemi_app.provisioning import fields as f

SUPERVISE = f.Entity("Supervise", key=None, fields=(
    f.digits("supervisor", AGENT_LENGTHS, description="the supervisor's extension; the edge calls it"),
    f.choice("mode", tuple(m.value for m in MODES),
             description="listen: hears both; whisper: the agent also hears the supervisor; barge: all hear all"),
))


def parse_supervise(payload: object) -> tuple[str, Feature]:
    values = SUPERVISE.parse(payload)
    return str(values["supervisor"]), Feature(values["mode"])
