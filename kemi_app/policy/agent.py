"""Agents: a 4-5 digit extension unique in its org, authenticated by digest against HA1 only."""

from __future__ import annotations

from dataclasses import dataclass

from kemi_app.policy import validation as v
from kemi_app.policy.digest import ha1, looks_like_ha1

EXT_LENGTHS = (4, 5)
PASSWORD_MIN = 8


@dataclass(frozen=True)
class Agent:
    ext: str
    ha1: str
    company: str = ""
    display_name: str = ""
    auto_answer: bool = False
    dnd: bool = False

    def public(self) -> dict[str, object]:
        """What the API shows: everything but the digest."""
        return {"ext": self.ext, "company": self.company, "display_name": self.display_name,
                "auto_answer": self.auto_answer, "dnd": self.dnd}


def extension(value: object, field: str = "ext") -> str:
    return v.digits(value, field, EXT_LENGTHS)


def parse_agent(ext: str, payload: object, realm: str, current: Agent | None = None) -> Agent:
    """A full agent from a JSON body. `current` lets an update keep the stored HA1 when no
    password is given; a new agent needs `password` (or a precomputed `ha1`)."""
    data = v.obj(payload)
    v.reject_unknown(data, {"ext", "password", "ha1", "company", "display_name", "auto_answer", "dnd"})
    if data.get("ext", ext) != ext:
        raise v.ValidationError("ext", "does not match the path")
    extension(ext)
    if "password" in data and "ha1" in data:
        raise v.ValidationError("password", "give either password or ha1, not both")
    if "password" in data:
        password = data["password"]
        if not isinstance(password, str) or len(password) < PASSWORD_MIN or len(password) > 128:
            raise v.ValidationError("password", f"must be a string of {PASSWORD_MIN} to 128 characters")
        digest = ha1(ext, realm, password)
    elif "ha1" in data:
        digest = data["ha1"]
        if not isinstance(digest, str) or not looks_like_ha1(digest):
            raise v.ValidationError("ha1", "must be 32 lower-case hex digits: MD5(ext:domain:password)")
    elif current is not None:
        digest = current.ha1
    else:
        raise v.ValidationError("password", "is required for a new agent")
    company = data.get("company")
    return Agent(
        ext=ext,
        ha1=digest,
        company="" if company in (None, "") else v.identifier(company, "company"),
        display_name=v.text(data.get("display_name"), "display_name", default=ext),
        auto_answer=v.boolean(data.get("auto_answer"), "auto_answer", False),
        dnd=v.boolean(data.get("dnd"), "dnd", False),
    )
