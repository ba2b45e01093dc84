"""Services: 3-digit extensions of an org that are not people (queues, IVRs, conferences)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kemi_app.extensions import AGENT_LENGTHS, SERVICE_LENGTHS
from kemi_app.provisioning import fields as f
from kemi_app.provisioning.did import E164_RE, optional_e164
from kemi_app.provisioning.errors import ValidationError

KINDS = ("queue", "ivr", "conference")


@dataclass(frozen=True)
class Service:
    ext: str
    kind: str
    name: str
    target_uri: str = ""
    members: list[str] = field(default_factory=list)
    ring_timeout: int = 20
    record_calls: bool = False  # automatic recording rule of a queue (policy/recording.py)
    max_wait: int = 0
    service_level: int = 20
    caller_id: str = ""  # a queue's DID, which its members may present on outbound calls


SERVICE = f.Entity("Service", key=f.digits("ext", SERVICE_LENGTHS), fields=(
    f.choice("kind", KINDS),
    f.text("name", derived=lambda key, before: f"{before['kind']} {key}", description="defaults to '<kind> <ext>'"),
    f.sip_uri("target_uri", optional=True, description="required for ivr and conference"),
    f.items("members", f.digits("member", AGENT_LENGTHS), [], allow_empty=True,
            description="queue members (agent extensions)"),
    f.integer("ring_timeout", 20, 5, 600, description="seconds a queue rings one member"),
    f.flag("record_calls", False, description="queues: record every call from its answer"),
    f.integer("max_wait", 0, 0, 3600,
              description="seconds a caller waits with music for a free member before the overflow (0: no waiting)"),
    f.integer("service_level", 20, 1, 3600,
              description="a waiting call answered within this many seconds counts for the service level"),
    f.Field("caller_id", optional_e164, {"type": "string", "pattern": E164_RE.pattern}, "",
            description="a queue's DID its members may present (X-Edge-Caller-Id: <queue ext>)"),
))


def parse_service(ext: str, payload: object) -> Service:
    """Queues list their member agents; IVRs and conferences name the URI that serves them."""
    service = Service(**SERVICE.parse(payload, ext))
    if service.kind != "queue" and not service.target_uri:
        f.check_sip_uri(None, "target_uri")
    if service.kind != "queue" and service.members:
        raise ValidationError("members", f"only queues have members, not a {service.kind}")
    if service.kind != "queue" and service.record_calls:
        raise ValidationError("record_calls", f"only queues have a recording rule, not a {service.kind}")
    if service.kind != "queue" and service.caller_id:
        raise ValidationError("caller_id", f"only queues present a caller ID, not a {service.kind}")
    return service
