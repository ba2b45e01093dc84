"""Agents: a 4-5 digit extension unique in its org, authenticated by digest against HA1 only."""

from __future__ import annotations

from dataclasses import dataclass

from kemi_app.extensions import AGENT_LENGTHS
from kemi_app.policy.digest import ha1, looks_like_ha1
from kemi_app.provisioning import fields as f
from kemi_app.provisioning.errors import ValidationError

PASSWORD_MIN = 8
PASSWORD_MAX = 128


@dataclass(frozen=True)
class Agent:
    ext: str
    ha1: str
    company: str = ""
    display_name: str = ""
    auto_answer: bool = False
    dnd: bool = False
    supervisor: bool = False  # may listen to, whisper to and barge into other agents' calls
    record_calls: bool = False  # automatic recording rule (policy/recording.py)

    def public(self) -> dict[str, object]:
        """What the API shows: everything but the digest."""
        return {"ext": self.ext, "company": self.company, "display_name": self.display_name,
                "auto_answer": self.auto_answer, "dnd": self.dnd, "supervisor": self.supervisor,
                "record_calls": self.record_calls}


def extension(value: object, field: str = "ext") -> str:
    return f.check_digits(value, field, AGENT_LENGTHS)


def _password(value: object, field: str) -> str:
    if not isinstance(value, str) or not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise ValidationError(field, f"must be a string of {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    return value


def _ha1(value: object, field: str) -> str:
    if not isinstance(value, str) or not looks_like_ha1(value):
        raise ValidationError(field, "must be 32 lower-case hex digits: MD5(ext:domain:password)")
    return value


AGENT = f.Entity("Agent", key=f.digits("ext", AGENT_LENGTHS), fields=(
    f.Field("password", _password, {"type": "string", "minLength": PASSWORD_MIN, "maxLength": PASSWORD_MAX}, None,
            description="required for a new agent; stored as HA1 only", write_only=True),
    f.Field("ha1", _ha1, {"type": "string", "pattern": "^[0-9a-f]{32}$"}, None,
            description="MD5(ext:domain:password) instead of password", write_only=True),
    f.identifier("company", optional=True, description="company id; none: the default settings"),
    f.text("display_name", derived=lambda key, _: key, description="defaults to the extension"),
    f.flag("auto_answer", False),
    f.flag("dnd", False),
    f.flag("supervisor", False, description="supervisor role: listen / whisper / barge on the org's agents"),
    f.flag("record_calls", False, description="record every call the agent places or is called on directly"),
))


def parse_agent(ext: str, payload: object, realm: str, current: Agent | None = None) -> Agent:
    """A full agent from a JSON body. `current` lets an update keep the stored HA1 when no
    password is given; a new agent needs `password` (or a precomputed `ha1`)."""
    values = AGENT.parse(payload, ext)
    password, digest = values.pop("password"), values.pop("ha1")
    if password is not None and digest is not None:
        raise ValidationError("password", "give either password or ha1, not both")
    if password is not None:
        digest = ha1(ext, realm, password)
    elif digest is None and current is not None:
        digest = current.ha1
    elif digest is None:
        raise ValidationError("password", "is required for a new agent")
    return Agent(ha1=digest, **values)
