"""Bodies that change an agent's state: its chosen status (available or a named pause) and
do-not-disturb."""

from __future__ import annotations

import re

from kemi_app.policy.pause import AgentStatus
from kemi_app.provisioning import fields as f
from kemi_app.provisioning.errors import ValidationError

PAUSE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,31}$")


def pause_name(value: object, field: str = "pause") -> str:
    # Goes into a SIP reason phrase and header verbatim: a safe, short token only.
    if not isinstance(value, str) or not PAUSE_NAME_RE.fullmatch(value):
        raise ValidationError(field, "must be 1-32 characters: letters, digits, space, '.', '_' or '-'")
    return value


STATUS = f.Entity("Status", key=None, fields=(
    f.choice("status", ("available", "paused")),
    f.Field("pause", lambda value, field: "" if value == "" else pause_name(value, field),
            {"type": "string", "pattern": PAUSE_NAME_RE.pattern, "examples": ["Break", "Restroom", "Training"]}, "",
            description="required when paused"),
))
DND = f.Entity("Dnd", key=None, fields=(f.flag("dnd"),))


def parse_status(payload: object, now: float) -> AgentStatus:
    values = STATUS.parse(payload)
    if values["status"] == "available":
        if values["pause"]:
            raise ValidationError("pause", "only a paused agent has a pause name")
        return AgentStatus(paused=False, since=now)
    return AgentStatus(paused=True, pause=pause_name(values["pause"] or None), since=now)


def parse_dnd(payload: object) -> bool:
    return bool(DND.parse(payload)["dnd"])
