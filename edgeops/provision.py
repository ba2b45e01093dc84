"""Loads a tenant file into Redis, idempotently, through the same validation as the API.

Format: {"orgs": [{id, domain, name, ivr_uri?, interorg_transfer_enabled?, companies: [...],
agents: [{ext, password, company?, ...}], services: [...], links: [org ids]}],
"gateways": [{id, address, priority?, codecs?}], "dids": [{number, org, service}]}.
Passwords become HA1. Agents' status, sessions and bindings are left as they are.
"""

from __future__ import annotations

import json
from pathlib import Path

from kemi_app.provisioning.agent import parse_agent
from kemi_app.provisioning.company import parse_company
from kemi_app.provisioning.did import parse_did
from kemi_app.provisioning.gateway import parse_gateway
from kemi_app.provisioning.org import parse_org
from kemi_app.provisioning.service import parse_service
from kemi_app.state import EdgeState

ORG_FIELDS = ("domain", "name", "ivr_uri", "interorg_transfer_enabled")


def _without(item: dict, key: str) -> dict:
    return {k: v for k, v in item.items() if k != key}


def load(state: EdgeState, data: dict) -> int:
    """Returns how many agents were written."""
    count = 0
    orgs = data.get("orgs", [])
    for raw in orgs:
        org = parse_org(raw["id"], {k: raw[k] for k in ORG_FIELDS if k in raw})
        state.directory.save_org(org)
        for company in raw.get("companies", []):
            state.directory.save_company(org.id, parse_company(company["id"], _without(company, "id")))
        for agent in raw.get("agents", []):
            state.directory.save_agent(org.id, parse_agent(agent["ext"], agent, org.domain))
            count += 1
        for service in raw.get("services", []):
            state.directory.save_service(org.id, parse_service(service["ext"], service))
    for raw in orgs:  # links need every org in place first
        for target in raw.get("links", []):
            state.directory.save_link(raw["id"], target)
    for gateway in data.get("gateways", []):
        state.directory.save_gateway(parse_gateway(gateway["id"], gateway))
    for did in data.get("dids", []):
        state.directory.save_did(parse_did(did["number"], did))
    return count


def load_file(state: EdgeState, path: Path) -> int:
    return load(state, json.loads(path.read_text()))
