"""A sipp peer that keeps every message it receives, for tests that read whole messages
(which headers are there, and which are not)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from tests.integration.helpers import wait_bound
from tests.sipp import Sipp

_START = re.compile(r"^\S+ message received \[\d+\] bytes :\n\n", re.MULTILINE)


def traced_peer(sipp: Sipp, port: int, scenario: str, **values: object) -> tuple[subprocess.Popen[str], Path]:
    """A sipp UAS on `port` for one call; returns it and the file its received messages go to."""
    log = sipp.workdir / f"trace-{port}-{time.monotonic_ns()}.log"
    proc = sipp.start(scenario, [], port=port, values={"checks": "", **values},
                      extra=["-trace_msg", "-message_file", str(log)])
    wait_bound(proc, port, ip=sipp.local_ip)
    return proc, log


def received(log: Path, first_line: str) -> list[str]:
    """Messages received whose first line starts with `first_line` ("INVITE ", "SIP/2.0 200"), in order."""
    text = log.read_text(errors="replace") if log.exists() else ""
    messages = []
    for start in (m.end() for m in _START.finditer(text)):
        end = text.find("\n\n----", start)
        messages.append(text[start:] if end < 0 else text[start:end])
    return [m for m in messages if m.startswith(first_line)]


def header(message: str, name: str) -> list[str]:
    """Values of header `name` (case-insensitive) in a message's header part."""
    head = message.split("\n\n", 1)[0]
    return [line.split(":", 1)[1].strip() for line in head.splitlines()[1:]
            if line.split(":", 1)[0].strip().lower() == name.lower()]


# A port in a SIP URI or Via (`host.name:port`, `[v6]:port`, `rport=port`); topoh's encoded
# values have none.
_PORT = re.compile(r"(?:(?:[\w-]+(?:\.[\w-]+)+|\]):|rport=)(\d+)")


def topology_leaks(message: str, own_ports: set[int], names: tuple[str, ...]) -> list[str]:
    """The Via, Record-Route and Contact values of a message that name a port other than
    `own_ports` (the edge's, the receiver's own) or any of `names` (extensions)."""
    return [f"{name}: {value}" for name in ("Via", "Record-Route", "Contact") for value in header(message, name)
            if {int(p) for p in _PORT.findall(value)} - own_ports or any(n in value for n in names)]
