"""Entry point of the images (k8s/images): one process in the foreground, as a pod wants.

    python3 -m edgeops.container edge       Kamailio with the KEMI app (Redis must be reachable)
    python3 -m edgeops.container rtpengine  rtpengine
    python3 -m edgeops.container prestop edge|rtpengine
                                            preStop hook: wait until no call is left

Same command lines and environment as `./edge run` (edgeops/stack.py); the secrets come from
the pod's environment (the edge-secrets Secret), never from the image.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable

from edgeops.stack import Stack, StackError, http_get

DEPENDENCY_WAIT = 120.0  # seconds: Redis and the node's rtpengine may start after the edge pod


def edge() -> int:
    """Like `./edge run`: Kamailio starts once Redis and rtpengine answer (else its rtpengine
    module would start with the relay disabled and answer 503 until it retries)."""
    stack = Stack(log_to_files=False)
    stack.prepare()
    for dependency in ("redis", "rtpengine"):
        if not wait_for(functools.partial(stack.ready, dependency), DEPENDENCY_WAIT):
            sys.stderr.write(f"edge: {dependency} does not answer after {DEPENDENCY_WAIT:.0f} s\n")
            return 1  # the pod restarts and waits again
    stack.provision()
    argv = stack.kamailio_argv()
    os.execvpe(argv[0], argv, stack.kamailio_env())


def rtpengine() -> int:
    stack = Stack(log_to_files=False)
    stack.prepare()  # the music on hold lives in this pod: rtpengine plays it
    argv = stack.rtpengine_argv()
    os.execvp(argv[0], argv)


def in_use(metrics: str, names: tuple[str, ...]) -> float:
    """Sum of the named gauges (any labels) in a Prometheus text exposition."""
    pattern = rf"^(?:{'|'.join(names)})(?:\{{[^}}]*\}})? (\S+)$"
    return sum(float(v) for v in re.findall(pattern, metrics, re.MULTILINE))


# What still carries calls: the edge's dialogs, rtpengine's sessions.
DRAIN_GAUGES = {"edge": ("edge_calls_active", "edge_calls_early"), "rtpengine": ("rtpengine_sessions",)}


def prestop(component: str) -> int:
    """A terminating pod is already out of its Service; the edge also goes into drain mode
    (OPTIONS 503, new calls and registrations 503 + Retry-After: Stack.drain). Then wait
    while it still carries calls, at most EDGE_DRAIN_SECONDS, and for its queued history
    writes; SIGTERM then stops the process."""
    stack = Stack(log_to_files=False)
    if component == "edge":
        try:
            stack.kamcmd("htable.seti", "node", "draining", "1")
        except (StackError, OSError, subprocess.SubprocessError) as e:
            sys.stderr.write(f"prestop: drain mode not set ({e}); waiting for calls anyway\n")
    url = stack.admin_url if component == "edge" else f"http://{stack.settings.rtpengine_http}"
    deadline = float(os.environ.get("EDGE_DRAIN_SECONDS", "600"))

    def drained() -> bool:
        try:
            status, body = http_get(url + "/metrics", timeout=2.0)
        except OSError:
            return True  # the process is gone: nothing left to wait for
        return status != 200 or in_use(body.decode(), DRAIN_GAUGES[component]) == 0

    wait_for(drained, deadline, interval=2.0)
    if component == "edge":
        stack.flush_history(10.0)  # the history writer's queue is written before SIGTERM
    return 0


def wait_for(check: Callable[[], bool], seconds: float, interval: float = 0.5) -> bool:
    end = time.monotonic() + seconds
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(interval)
    return True


COMMANDS: dict[str, Callable[[], int]] = {"edge": edge, "rtpengine": rtpengine}


def main(argv: list[str]) -> int:
    if argv in (["prestop", "edge"], ["prestop", "rtpengine"]):
        return prestop(argv[1])
    if len(argv) != 1 or argv[0] not in COMMANDS:
        sys.stderr.write("usage: python3 -m edgeops.container edge | rtpengine | prestop edge|rtpengine\n")
        return 2
    return COMMANDS[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
