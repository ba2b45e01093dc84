"""Finding loopback ports nobody holds, for test and load-test edges beside a running one."""

from __future__ import annotations

import random
import socket


def port_free(port: int, kinds: tuple[int, ...] = (socket.SOCK_STREAM, socket.SOCK_DGRAM)) -> bool:
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port_block(low: int, high: int, step: int, span: int) -> int:
    """The first port of `span` consecutive free ports, chosen at random in [low, high)."""
    for _ in range(50):
        base = random.randrange(low, high, step)
        if all(port_free(p) for p in range(base, base + span)):
            return base
    raise RuntimeError(f"no {span} free ports in {low}-{high}")
