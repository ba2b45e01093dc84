"""The body of an inter-org transfer request made through the API."""

from __future__ import annotations

from kemi_app.provisioning import fields as f

TRANSFER_ORG = f.Entity("TransferOrg", key=None, fields=(
    f.identifier("org", description="destination org id; must be linked"),
))


def parse_transfer_org(payload: object) -> str:
    return str(TRANSFER_ORG.parse(payload)["org"])
