"""Fast, clear answers while a dependency is down: a request that needs Redis or rtpengine
gets `503 <dependency> Unavailable` with Retry-After instead of waiting on it."""

from __future__ import annotations

from collections.abc import Callable

import KSR

from kemi_app import metrics
from kemi_app.dependency import DependencyDown
from kemi_app.sip.context import log_ctx, pv, reply


def answering_503(body: Callable[[], None]) -> Callable[[], None]:
    """`body` (a request route, or a failure route about to relay again) with DependencyDown
    turned into the 503 answer."""

    def run() -> None:
        try:
            body()
        except DependencyDown as e:
            KSR.info(f"{e} {log_ctx()}: answered 503\n")
            method = pv("$rm")
            if method == "ACK":
                return
            if method == "INVITE":
                metrics.call_final("", "", 503)
            if KSR.tmx.t_is_failure_route() > 0:
                KSR.hdr.append_to_reply(f"Retry-After: {e.retry_after}\r\n")
                KSR.tm.t_reply(503, e.reason)
            else:
                reply(503, e.reason, (f"Retry-After: {e.retry_after}",))

    return run
