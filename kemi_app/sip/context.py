"""Per-process context of a Kamailio worker and small KSR helpers shared by the routes."""

from __future__ import annotations

from dataclasses import dataclass, field

import KSR

from kemi_app import metrics
from kemi_app.dependency import Dependency
from kemi_app.policy.breaker import Breaker
from kemi_app.settings import Settings
from kemi_app.state import EdgeState, connect

# rtpengine failures are fast once the module has disabled it (rtpengine_disable_tout).
RTPENGINE_FAILURES_TO_OPEN = 2
RTPENGINE_COOLDOWN_SECONDS = 2.0


def rtpengine_dependency() -> Dependency:
    return Dependency("rtpengine", "Media Relay Unavailable",
                      Breaker(RTPENGINE_FAILURES_TO_OPEN, RTPENGINE_COOLDOWN_SECONDS))


@dataclass
class Context:
    settings: Settings
    state: EdgeState
    rtpengine: Dependency = field(default_factory=rtpengine_dependency)
    media_refused: bool = False  # set by the branch route when rtpengine dropped every branch

    @classmethod
    def create(cls) -> Context:
        settings = Settings.from_env()
        client = connect(settings.effective_redis_url, settings.redis_timeout_ms / 1000)
        return cls(settings=settings, state=EdgeState(client, settings.history_retention_days))


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
