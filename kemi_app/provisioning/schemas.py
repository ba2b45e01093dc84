"""JSON Schemas of every request body, generated from the entity declarations."""

from __future__ import annotations

from typing import Any

from kemi_app.provisioning.agent import AGENT
from kemi_app.provisioning.agent_state import DND, STATUS
from kemi_app.provisioning.company import COMPANY
from kemi_app.provisioning.did import DID
from kemi_app.provisioning.gateway import GATEWAY
from kemi_app.provisioning.org import ORG
from kemi_app.provisioning.recording import RECORDING_REQUEST
from kemi_app.provisioning.service import SERVICE
from kemi_app.provisioning.supervision import SUPERVISE
from kemi_app.provisioning.transfer import TRANSFER_ORG

ENTITIES = (ORG, COMPANY, AGENT, SERVICE, GATEWAY, DID, STATUS, DND, TRANSFER_ORG, SUPERVISE, RECORDING_REQUEST)
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "field": {"type": "string", "description": "the offending field"}},
}


def component_schemas() -> dict[str, dict[str, Any]]:
    return {**{e.name: e.json_schema() for e in ENTITIES}, "Error": ERROR}
