"""Carrier gateway routing: the order gateways are tried in, and when to try the next."""

from __future__ import annotations

from kemi_app.provisioning.gateway import Gateway


def in_order(gateways: list[Gateway]) -> list[Gateway]:
    return sorted(gateways, key=lambda g: (g.priority, g.id))


def fails_over(status: int) -> bool:
    """A gateway that errs (5xx) or never answers (408 from our own timer) gets replaced by the
    next one; any other final answer (busy, rejected, unknown number) is the callee's."""
    return status == 408 or 500 <= status <= 599
