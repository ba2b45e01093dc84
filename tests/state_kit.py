"""Direct writes and reads of the edge's Redis state that only tests need."""

from __future__ import annotations

from kemi_app.provisioning.org import Org
from kemi_app.state import EdgeState, keys
from kemi_app.state.directory import agent_written


def put_org(state: EdgeState, org_id: str, domain: str, name: str) -> None:
    """Keeps fields set through the API (IVR URI, transfer flag)."""
    old = state.directory.get_org(org_id)
    base = old.__dict__ if old else {}
    state.directory.save_org(Org(**{**base, "id": org_id, "domain": domain.lower(), "name": name}))


def put_agent(state: EdgeState, org_id: str, ext: str, fields: dict[str, str]) -> None:
    """Raw write of stored fields, bypassing validation (the API goes through save_agent)."""
    with state.r.pipeline(transaction=True) as p:
        p.hset(keys.agent(org_id, ext), mapping={"ext": ext, **fields})
        p.sadd(keys.agents(org_id), ext)
        agent_written(p, org_id, ext)
        p.execute()


def drop_bindings(state: EdgeState, org_id: str, ext: str) -> None:
    state.r.delete(keys.bindings(org_id, ext))


def log_out(state: EdgeState, org_id: str, ext: str) -> None:
    """No bindings and no login session: as if the agent had never registered."""
    state.r.delete(keys.bindings(org_id, ext), keys.session(org_id, ext))


def calls_of(state: EdgeState, org_id: str, ext: str) -> int:
    """How many calls the agent is in, as presence counts them (the edges' dialog events written)."""
    state.dialog_events.settle()
    return int(state.r.hlen(keys.calls(org_id, ext)))
