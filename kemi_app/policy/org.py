"""Orgs (tenants): one SIP domain each, plus which other orgs they may transfer calls to."""

from __future__ import annotations

from dataclasses import dataclass

from kemi_app.policy import validation as v


@dataclass(frozen=True)
class Org:
    id: str
    domain: str
    name: str
    ivr_uri: str = ""
    interorg_transfer_enabled: bool = False


def parse_org(org_id: str, payload: object) -> Org:
    data = v.obj(payload)
    v.reject_unknown(data, {"id", "domain", "name", "ivr_uri", "interorg_transfer_enabled"})
    if data.get("id", org_id) != org_id:
        raise v.ValidationError("id", "does not match the path")
    return Org(
        id=v.identifier(org_id, "id"),
        domain=v.domain(data.get("domain"), "domain"),
        name=v.text(data.get("name"), "name", default=org_id),
        ivr_uri=v.sip_uri(data.get("ivr_uri"), "ivr_uri", optional=True),
        interorg_transfer_enabled=v.boolean(data.get("interorg_transfer_enabled"), "interorg_transfer_enabled", False),
    )
