"""Services: 3-digit extensions of an org that are not people (queues, IVRs, conferences)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kemi_app.policy import validation as v
from kemi_app.policy.agent import extension

KINDS = ("queue", "ivr", "conference")
SERVICE_EXT_LENGTH = 3


@dataclass(frozen=True)
class Service:
    ext: str
    kind: str
    name: str
    target_uri: str = ""
    members: list[str] = field(default_factory=list)
    ring_timeout: int = 20


def service_extension(value: object, field_name: str = "ext") -> str:
    return v.digits(value, field_name, (SERVICE_EXT_LENGTH,))


def parse_service(ext: str, payload: object) -> Service:
    """Queues list their member agents; IVRs and conferences name the URI that serves them."""
    data = v.obj(payload)
    v.reject_unknown(data, {"ext", "kind", "name", "target_uri", "members", "ring_timeout"})
    if data.get("ext", ext) != ext:
        raise v.ValidationError("ext", "does not match the path")
    kind = data.get("kind")
    if kind not in KINDS:
        raise v.ValidationError("kind", "must be one of " + ", ".join(KINDS))
    members = v.string_list(data.get("members"), "members", extension, [], allow_empty=True)
    target = v.sip_uri(data.get("target_uri"), "target_uri", optional=kind == "queue")
    if kind != "queue" and members:
        raise v.ValidationError("members", f"only queues have members, not a {kind}")
    return Service(
        ext=service_extension(ext),
        kind=kind,
        name=v.text(data.get("name"), "name", default=f"{kind} {ext}"),
        target_uri=target,
        members=members,
        ring_timeout=v.integer(data.get("ring_timeout"), "ring_timeout", 20, 5, 600),
    )
