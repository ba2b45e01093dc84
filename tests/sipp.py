"""Runs real sipp processes against the edge under test."""

from __future__ import annotations

import itertools
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template

from edgeops.ports import port_free
from tests.g711 import sdp_audio

SCENARIOS = Path(__file__).parent / "sipp"
_ports = itertools.count(0)
# sipp exits with 254 before sending anything when a socket is taken; another test run on the
# machine may hold a media port, so such a run is retried with the media ports elsewhere.
SIPP_FATAL = 254
MEDIA_OFFSETS = (10000, 13000, 16000)


@dataclass
class SippResult:
    returncode: int
    output: str
    errors: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Sipp:
    """One per test session; every instance gets its own SIP, media and control ports."""

    def __init__(self, target: str, workdir: Path, port_base: int, local_ip: str = "127.0.0.1") -> None:
        self.target = target
        self.local_ip = local_ip
        self.workdir = workdir
        self.port_base = port_base
        self.running: list[subprocess.Popen[str]] = []

    def next_port(self) -> int:
        """A SIP port (+1 control, +10000..+10003 media) no other process holds right now."""
        while True:
            port = self.port_base + 4 * next(_ports)
            if all(port_free(p, (socket.SOCK_DGRAM,)) for p in (port, port + 1, *range(port + 10000, port + 10004))):
                return port

    def _prepare(
        self, scenario: str, fields: list[list[str]], values: dict[str, object], tag: str
    ) -> tuple[Path, Path | None]:
        text = Template((SCENARIOS / scenario).read_text()).safe_substitute(
            {"expect": 200, "retry": "", "hold_ms": 200, "checks": "", "header_check": "check_it", "delay_ms": 0,
             "extra_header": "", "steps": "",
             # a phone rings before it answers: a 180 and a 200 sent back to back can pass each
             # other in a proxy's workers, and sipp takes a late 180 as an unexpected message
             "ring_ms": 100, "bye_cseq": 2, "audio": sdp_audio("PCMA", "PCMU"),
             "target_uri": "sip:[field0]@[remote_ip]:[remote_port]",  # a number from the -inf file
             **values}
        )
        # [$name] is sipp's own variable syntax; any other $name left is a missing value.
        missing = re.findall(r"(?<!\[)\$([a-z_]+)", text)
        if missing:
            raise KeyError(f"{scenario}: no value for {missing}")
        xml = self.workdir / f"{tag}.xml"
        xml.write_text(text)
        if not fields:
            return xml, None
        csv = self.workdir / f"{tag}.csv"
        csv.write_text("SEQUENTIAL\n" + "".join(";".join(row) + "\n" for row in fields))
        return xml, csv

    def command(
        self, scenario: str, fields: list[list[str]], port: int, calls: int = 1, transport: str = "u1",
        values: dict[str, object] | None = None, extra: list[str] | None = None, media_offset: int = 10000,
    ) -> tuple[list[str], Path]:
        tag = f"{Path(scenario).stem}-{port}-{time.monotonic_ns()}"
        xml, csv = self._prepare(scenario, fields, values or {}, tag)
        err = self.workdir / f"{tag}.errors.log"
        argv = [
            "sipp", self.target, "-sf", str(xml), "-m", str(calls),
            "-i", self.local_ip, "-mi", self.local_ip, "-p", str(port), "-mp", str(port + media_offset),
            "-cp", str(port + 1),
            "-t", transport, "-nostdin", "-timeout", "25s", "-timeout_error", "-max_recv_loops", "1000",
            "-trace_err", "-error_file", str(err), "-recv_timeout", "20000",
        ]
        if csv is not None:
            argv += ["-inf", str(csv)]
        return argv + (extra or []), err

    def run(self, scenario: str, fields: list[list[str]], port: int | None = None, **kw) -> SippResult:
        for offset in MEDIA_OFFSETS:
            # A port the caller chose stays; otherwise a taken one is replaced too.
            argv, err = self.command(scenario, fields, port or self.next_port(), media_offset=offset, **kw)
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            result = SippResult(proc.returncode, proc.stdout + proc.stderr, err.read_text() if err.exists() else "")
            if not (proc.returncode == SIPP_FATAL and "Address already in use" in result.output):
                break
        return result

    def start(self, scenario: str, fields: list[list[str]], port: int, **kw) -> subprocess.Popen[str]:
        argv, _ = self.command(scenario, fields, port, **kw)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.running.append(proc)
        return proc

    def stop_all(self) -> None:
        """Ends the background sipp processes a test left behind (it failed before waiting)."""
        for proc in self.running:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=5)
        self.running.clear()
