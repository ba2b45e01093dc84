"""Loads a tenant file (orgs and agents) into Redis, idempotently. Passwords become HA1."""

from __future__ import annotations

import json
from pathlib import Path

from kemi_app.policy.digest import ha1
from kemi_app.state import EdgeState


def load(state: EdgeState, data: dict) -> int:
    """Returns how many agents were written."""
    count = 0
    for org in data.get("orgs", []):
        state.put_org(org["id"], org["domain"], org.get("name", org["id"]))
        for agent in org.get("agents", []):
            state.put_agent(
                org["id"],
                agent["ext"],
                {
                    "ha1": ha1(agent["ext"], org["domain"], agent["password"]),
                    "display_name": agent.get("display_name", agent["ext"]),
                },
            )
            count += 1
    return count


def load_file(state: EdgeState, path: Path) -> int:
    return load(state, json.loads(path.read_text()))
