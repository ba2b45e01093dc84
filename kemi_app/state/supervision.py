"""Supervision sessions: a supervisor's call (by its Call-ID) listening to an agent's call."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from kemi_app import metrics
from kemi_app.provisioning.agent import Agent
from kemi_app.state import keys
from kemi_app.state.base import Store
from kemi_app.state.codec import decode

SESSION_TTL = 13 * 3600  # as long as a call record can last


@dataclass(frozen=True)
class Session:
    org: str
    supervisor: str
    agent: str
    mode: str
    call_id: str  # the supervised call (its rtpengine session)
    attendance: str
    token: str  # names the supervisor's dialog at the edge and its rtpengine participants
    agent_tag: str  # the supervised call's tags (SIP dialog = rtpengine participants)
    other_tag: str
    calling: bool = False  # the edge called the supervisor (API) and awaits its answer
    # The supervisor's dialog, for the BYE the edge sends when the supervised call ends.
    peer_contact: str = ""  # the supervisor's Contact URI
    peer_nexthop: str = ""  # where its requests came from (sip:ip:port;transport=x)
    peer_socket: str = ""  # the edge's socket toward it (proto:ip:port)
    local: str = ""  # the edge's side of the dialog: From of the BYE (URI with tag)
    remote: str = ""  # the supervisor's side: To of the BYE

    @property
    def listen_tag(self) -> str:
        """The rtpengine participant subscribed to both parties (what the supervisor hears)."""
        return f"sup{self.token}l"

    @property
    def publish_tag(self) -> str:
        """The rtpengine participant carrying the supervisor's audio."""
        return f"sup{self.token}p"


@dataclass(frozen=True)
class Target:
    """The agent to supervise and its calls in progress (Call-ID -> attendance, newest first)."""

    agent: Agent | None
    calls: list[tuple[str, str]]


@metrics.timed_state
class Supervisions(Store):
    def supervision_target(self, org_id: str, ext: str) -> Target:
        with self.r.pipeline(transaction=False) as p:
            p.hgetall(keys.agent(org_id, ext))
            p.hgetall(keys.calls(org_id, ext))
            agent_row, calls = p.execute()
        newest = sorted(calls, key=lambda c: float(calls[c] or 0), reverse=True)
        atts = self.r.mget([keys.call_attendance(c) for c in newest]) if newest else []
        return Target(decode(Agent, agent_row, ext=ext), [(c, a or "") for c, a in zip(newest, atts, strict=False)])

    def save_supervision(self, sup_call_id: str, session: Session) -> None:
        """Also indexed by the supervised call, whose end ends its supervisions."""
        index = keys.supervised_call(session.call_id)
        with self.r.pipeline(transaction=True) as p:
            p.set(keys.supervision(sup_call_id), json.dumps(asdict(session)), ex=SESSION_TTL)
            p.sadd(index, sup_call_id)
            p.expire(index, SESSION_TTL)
            p.execute()

    def take_supervision(self, sup_call_id: str) -> Session | None:
        """The session, removed: its end is handled once."""
        raw = self.r.getdel(keys.supervision(sup_call_id))
        if not raw:
            return None
        session = Session(**json.loads(raw))
        self.r.srem(keys.supervised_call(session.call_id), sup_call_id)
        return session

    def take_supervisions(self, sup_calls: list[str]) -> list[tuple[str, Session]]:
        """The supervised call ended (its index went with the dialog event, state.dialogevents):
        its supervisions, by the supervisor's Call-ID, removed."""
        with self.r.pipeline(transaction=False) as p:
            for sup_call_id in sup_calls:
                p.getdel(keys.supervision(sup_call_id))
            raws = p.execute()
        return [(c, Session(**json.loads(raw))) for c, raw in zip(sup_calls, raws, strict=True) if raw]

    def supervision(self, sup_call_id: str) -> Session | None:
        raw = self.r.get(keys.supervision(sup_call_id))
        return Session(**json.loads(raw)) if raw else None
