"""Bodies that change an agent's state: its chosen status (available or a named pause) and
do-not-disturb; and the company's pause types they choose from."""

from __future__ import annotations

import re

from kemi_app.policy.pause import AgentStatus, PauseType, pause_by_name, paused_as
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
AUTO_ANSWER = f.Entity("AutoAnswer", key=None, fields=(
    f.flag("auto_answer", description="for the current login session only"),))

PAUSE_TYPE = f.Entity("PauseType", key=None, fields=(
    f.digits("code", (1,), description="the digit after *40 that chooses this pause"),
    f.Field("name", pause_name, STATUS.fields[1].schema),
    f.flag("blocks_calls", True, description="false: agents may call out during this pause even in a blocking company"),
))
MAX_PAUSE_TYPES = 10


def _pause_types(value: object, field: str) -> list[PauseType]:
    if not isinstance(value, list) or len(value) > MAX_PAUSE_TYPES:
        raise ValidationError(field, f"must be a list of at most {MAX_PAUSE_TYPES} pause types")
    out: list[PauseType] = []
    for i, raw in enumerate(value):
        try:
            pause = PauseType(**PAUSE_TYPE.parse(raw))
        except ValidationError as e:
            raise ValidationError(f"{field}[{i}].{e.field}", e.message) from None
        if any(t.code == pause.code or t.name == pause.name for t in out):
            raise ValidationError(f"{field}[{i}]", "code and name must be unique among the pause types")
        out.append(pause)
    return out


PAUSE_TYPES = f.Field(
    "pause_types", _pause_types, {"type": "array", "items": PAUSE_TYPE.json_schema(), "maxItems": MAX_PAUSE_TYPES},
    [], description="the pauses agents choose from; none: any pause name, always blocking",
)


def parse_status(payload: object, now: float, types: list[PauseType]) -> AgentStatus:
    """`types`: the agent's company's pause types (a paused status must name one of them)."""
    values = STATUS.parse(payload)
    if values["status"] == "available":
        if values["pause"]:
            raise ValidationError("pause", "only a paused agent has a pause name")
        return AgentStatus(paused=False, since=now)
    pause = pause_by_name(types, pause_name(values["pause"] or None))
    if pause is None:
        raise ValidationError("pause", "must be one of the company's pause types: " + ", ".join(t.name for t in types))
    return paused_as(pause, now)


def parse_auto_answer(payload: object) -> bool:
    return bool(AUTO_ANSWER.parse(payload)["auto_answer"])


def parse_dnd(payload: object) -> bool:
    return bool(DND.parse(payload)["dnd"])
