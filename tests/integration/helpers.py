"""Shared steps of the SIP integration tests."""

from __future__ import annotations

import socket
import subprocess
import time

from tests.sipp import Sipp, SippResult

DEMO = "demo.test"
PASSWORDS = {"1001": "demo1001", "1002": "demo1002"}


def register(sipp: Sipp, user: str, port: int, password: str | None = None, domain: str = DEMO,
             expires: int = 300, expect: int = 200, transport: str = "u1") -> SippResult:
    secret = password or PASSWORDS[user]
    return sipp.run("register.xml", [[user, domain, secret, str(expires)]], port=port, transport=transport,
                    values={"expect": expect}, extra=["-au", user, "-ap", secret])


def call(sipp: Sipp, caller: str, callee: str, scenario: str = "uac_call.xml", expect: int = 200,
         domain: str = DEMO, password: str | None = None, hold_ms: int = 200,
         extra_header: str = "", transport: str = "u1") -> SippResult:
    secret = password or PASSWORDS[caller]
    values = {"expect": expect, "hold_ms": hold_ms, "extra_header": "\n" + extra_header if extra_header else ""}
    return sipp.run(scenario, [[caller, domain, secret, callee]], values=values, transport=transport,
                    extra=["-au", caller, "-ap", secret])


def answer_one(sipp: Sipp, port: int, scenario: str = "uas.xml", **values: object) -> subprocess.Popen[str]:
    """A registered agent's phone on `port` that handles exactly one call."""
    proc = sipp.start(scenario, [], port=port, values=values)
    time.sleep(0.3)  # let sipp bind its socket before the call is sent
    return proc


def finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def checks(*patterns: str) -> str:
    """sipp actions failing the call unless each regexp matches the received message."""
    eregs = "".join(
        f'<ereg regexp="{p}" search_in="msg" check_it="true" assign_to="check{i}"/>' for i, p in enumerate(patterns)
    )
    # sipp refuses a variable referenced only once: the log line is its second use.
    used = " ".join(f"[$check{i}]" for i in range(len(patterns)))
    return f'<action>{eregs}<log message="checked {used}"/></action>'


def wait_bound(proc: subprocess.Popen[str], port: int, timeout: float = 10.0, ip: str = "127.0.0.1") -> None:
    """Until sipp holds its UDP port: a call sent earlier would meet a closed port (and time
    out on the edge's short gateway timer when the machine is busy)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"sipp on port {port} exited at start: {proc.communicate()[0][-2000:]}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((ip, port))
            except OSError:
                return
        time.sleep(0.05)
    raise AssertionError(f"sipp did not bind 127.0.0.1:{port}")
