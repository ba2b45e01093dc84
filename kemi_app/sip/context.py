"""Per-process context of a Kamailio worker and small KSR helpers shared by the routes."""

from __future__ import annotations

from dataclasses import dataclass

import KSR

from kemi_app import metrics
from kemi_app.settings import Settings
from kemi_app.state import EdgeState, connect


@dataclass
class Context:
    settings: Settings
    state: EdgeState

    @classmethod
    def create(cls) -> Context:
        settings = Settings.from_env()
        state = EdgeState(connect(settings.effective_redis_url), settings.history_retention_days)
        return cls(settings=settings, state=state)


def pv(name: str) -> str:
    value = KSR.pv.get(name)
    return "" if value is None else str(value)


def reply(status: int, reason: str, headers: tuple[str, ...] = ()) -> None:
    """Stateful when a transaction exists, stateless otherwise (sl.send_reply decides)."""
    for header in headers:
        KSR.hdr.append_to_reply(header + "\r\n")
    KSR.sl.send_reply(status, reason)


def refuse(org_id: str, kind: str, status: int, reason: str, headers: tuple[str, ...] = ()) -> None:
    """Answers an initial request; for an INVITE that answer is the call's final status."""
    if KSR.is_INVITE() > 0:
        metrics.call_final(org_id, kind, status)
    reply(status, reason, headers)


def header_values(name: str) -> list[str]:
    values: list[str] = []
    idx = 0
    while True:
        value = KSR.hdr.get_idx(name, idx)
        if value is None:
            return values
        values.append(str(value))
        idx += 1


def log_ctx() -> str:
    return f"call-id={pv('$ci')} method={pv('$rm')} src={pv('$si')}:{pv('$sp')}"
