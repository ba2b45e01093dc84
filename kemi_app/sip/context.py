"""Per-process context of a Kamailio worker and small KSR helpers shared by the routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import KSR

from kemi_app import metrics
from kemi_app.dependency import Dependency
from kemi_app.policy.breaker import Breaker
from kemi_app.policy.media import MediaSettings
from kemi_app.policy.media_pool import node_label
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
    def create(cls, sip_worker: bool = False) -> Context:
        """`sip_worker`: a process that only waits on SIP and Redis (no timer signals), whose
        Redis socket can leave its timeouts to the kernel: fewer system calls per round trip."""
        settings = Settings.from_env()
        client = connect(settings.effective_redis_url, settings.redis_timeout_ms / 1000, kernel_timeouts=sip_worker)
        return cls(settings=settings, state=EdgeState(client, settings.history_retention_days,
                                                      settings.recording_retention_days))

    # A process's settings never change: what the media route derives from them, once.
    @cached_property
    def media(self) -> MediaSettings:
        return MediaSettings(anchor_rtp=self.settings.media_anchor_rtp, force_opus=self.settings.media_force_opus)

    @cached_property
    def media_label(self) -> str:
        """rtpengine's label of this node's sessions (sip/reconcile.py tells them apart by it)."""
        return node_label(self.settings.node_uri)


class NotUtf8(ValueError):
    """A field of the message holds bytes that are not UTF-8 (app_python3 cannot decode it)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not UTF-8")


# Fields of the message a route runs for that nothing in the route changes, read a dozen
# times per call (method, Call-ID, status, source, port, protocol): read from Kamailio once per
# route. The route guard forgets them as each route starts and ends (sip/routes.py), so a route
# run inside another one (a dialog event raised by loose_route) never sees the outer route's
# values, nor the outer route the inner one's.
FIXED = frozenset(("$rm", "$ci", "$rs", "$si", "$sp", "$Rp", "$pr"))
_fixed: dict[str, str] = {}


def new_route() -> None:
    _fixed.clear()


def pv(name: str) -> str:
    """app_python3 decodes strictly: KSR.pv.get raises UnicodeDecodeError for bytes that are
    not UTF-8. That becomes NotUtf8 naming the field, which the route guard answers with 400."""
    known = _fixed.get(name)
    if known is not None:
        return known
    try:
        value = KSR.pv.get(name)
    except UnicodeDecodeError:
        raise NotUtf8(name) from None
    text = "" if value is None else str(value)
    if name in FIXED:
        _fixed[name] = text
    return text


def _hexa(name: str) -> str:
    """The same pseudo-variable through Kamailio's hex transformation: `$ci` -> `$(ci{s.encode.hexa})`."""
    inner = name[2:-1] if name.startswith("$(") else name[1:]
    return f"$({inner}{{s.encode.hexa}})"


def pv_text(name: str) -> str:
    """For log lines: never raises; bytes that are not UTF-8 come out backslash-escaped (`\\xff`)."""
    try:
        return pv(name)
    except NotUtf8:
        try:
            return bytes.fromhex(str(KSR.pv.get(_hexa(name)) or "")).decode("utf-8", "backslashreplace")
        except Exception:
            return "<undecodable>"
    except Exception:
        return "<unavailable>"


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
        try:
            value = KSR.hdr.get_idx(name, idx)
        except UnicodeDecodeError:
            raise NotUtf8(f"header {name}") from None
        if value is None:
            return values
        values.append(str(value))
        idx += 1


def log_ctx() -> str:
    """Names the message in log lines; safe inside except handlers (never raises)."""
    return f"call-id={pv_text('$ci')} method={pv_text('$rm')} src={pv_text('$si')}:{pv_text('$sp')}"
