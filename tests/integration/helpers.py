"""Shared steps of the SIP integration tests."""

from __future__ import annotations

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

