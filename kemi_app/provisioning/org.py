"""Orgs (tenants): one SIP domain each; links say which other orgs they may transfer to."""

from __future__ import annotations

from dataclasses import dataclass

from kemi_app.provisioning import fields as f


@dataclass(frozen=True)
class Org:
    id: str
    domain: str
    name: str
    ivr_uri: str = ""
    interorg_transfer_enabled: bool = False


ORG = f.Entity("Org", key=f.identifier("id"), fields=(
    f.domain("domain", description="SIP domain, also the agents' digest realm"),
    f.text("name", derived=lambda key, _: key, description="defaults to the org id"),
    f.sip_uri("ivr_uri", optional=True, description="sip: URI of the org's IVR (transfers land there)"),
    f.flag("interorg_transfer_enabled", False),
))


def parse_org(org_id: str, payload: object) -> Org:
    return Org(**ORG.parse(payload, org_id))
