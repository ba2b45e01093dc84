"""One load step with sipp: several UAC processes at a combined rate, measured from /proc."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgeops.load import redis_stats
from edgeops.load.procs import Component, cpu_seconds, machine_busy_seconds, memory_bytes
from edgeops.load.ramp import StepResult
from edgeops.load.redis_stats import CommandCounts

MEMORY_SAMPLE_SECONDS = 0.5


@dataclass(frozen=True)
class SippJob:
    """What one step runs: a scenario, its CSV rows, and how to spread it over processes."""

    scenario: Path
    rows: list[list[str]]  # -inf rows; split between the processes
    per_process_rate: int  # one sipp tops out around 1,000-1,500 calls/s
    hold_ms: int = 0
    max_concurrent: int = 0  # 0: derived from rate and hold


class SippLoad:
    def __init__(self, target: str, workdir: Path, ports: list[int]) -> None:
        self.target = target
        self.workdir = workdir
        self.ports = ports  # free UDP ports, 10 apart: SIP, control (+1), media (+2, +4)

    def argv(self, job: SippJob, port: int, rate: int, calls: int, csv_path: Path, tag: str) -> list[str]:
        limit = job.max_concurrent or max(50, int(rate * (job.hold_ms / 1000 + 0.5) * 3))
        return [
            "sipp", self.target, "-sf", str(job.scenario), "-inf", str(csv_path),
            "-r", str(rate), "-m", str(calls), "-l", str(limit), "-d", str(job.hold_ms),
            "-i", "127.0.0.1", "-p", str(port), "-cp", str(port + 1), "-mp", str(port + 2),
            "-t", "u1", "-nostdin", "-timeout", f"{int(calls / rate) + 40}s", "-max_recv_loops", "2000",
            "-trace_stat", "-stf", str(self.workdir / f"{tag}.stat.csv"), "-fd", "1",
            "-trace_rtt", "-rtt_freq", "1", "-recv_timeout", "10000",
        ]

    def step(self, job: SippJob, rate: int, seconds: float, components: list[Component], tag: str,
             commands: Callable[[], CommandCounts] | None = None) -> StepResult:
        """`commands` (Redis' own count of each command) is read before and after: the step
        gets each command's increase per call (`redis_commands_per_call`, `redis_cmd_<name>`)."""
        procs_needed = max(1, math.ceil(rate / job.per_process_rate))
        procs_needed = min(procs_needed, len(self.ports))
        per_rate = max(1, round(rate / procs_needed))
        per_calls = max(1, int(per_rate * seconds))
        started: list[tuple[subprocess.Popen[bytes], str]] = []
        pids = {c.name: c.pids() for c in components}
        cpu_before = {name: cpu_seconds(p) for name, p in pids.items()}
        commands_before = commands() if commands else {}
        busy_before = machine_busy_seconds()
        peak = {name: 0 for name in pids}
        done = threading.Event()

        def sample_memory() -> None:
            while not done.is_set():
                for name, p in pids.items():
                    peak[name] = max(peak[name], memory_bytes(p))
                done.wait(MEMORY_SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample_memory, daemon=True)
        sampler.start()
        start = time.monotonic()
        for i in range(procs_needed):
            rows = job.rows[i::procs_needed] or job.rows
            csv_path = self.workdir / f"{tag}-{i}.csv"
            csv_path.write_text("SEQUENTIAL\n" + "".join(";".join(r) + "\n" for r in rows))
            argv = self.argv(job, self.ports[i], per_rate, per_calls, csv_path, f"{tag}-{i}")
            log = open(self.workdir / f"{tag}-{i}.log", "wb")  # noqa: SIM115 - closed below
            started.append((subprocess.Popen(argv, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT), log.name))
            log.close()
        sipp_cpu = 0.0
        for proc, _ in started:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            sipp_cpu += usage.ru_utime + usage.ru_stime
        elapsed = time.monotonic() - start
        done.set()
        sampler.join()
        cpu = {name: cpu_seconds(p) - cpu_before[name] for name, p in pids.items()}
        cpu["sipp"] = sipp_cpu
        # CPU the box spent on anything this step did not start: other jobs sharing the cores.
        others = machine_busy_seconds() - busy_before - sum(cpu.values())
        extra: dict[str, float] = {"sipp_processes": procs_needed, "other_cores": round(max(0.0, others) / elapsed, 2)}
        created = succeeded = failed = 0
        for i in range(procs_needed):
            stats = last_stat_row(self.workdir / f"{tag}-{i}.stat.csv")
            created += int(stats.get("TotalCallCreated", 0))
            succeeded += int(stats.get("SuccessfulCall(C)", 0))
            failed += int(stats.get("FailedCall(C)", 0))
        latencies: list[float] = []
        achieved = 0.0  # calls/s completed, from the spread of completion times in each process
        kept = self.workdir / "rtt"
        kept.mkdir(exist_ok=True)
        for path in self.workdir.glob("*_rtt.csv"):  # this step's: earlier ones were moved away
            samples = read_rtt(path)
            latencies += [rtt for _, rtt in samples]
            if len(samples) > 1 and samples[-1][0] > samples[0][0]:
                achieved += (len(samples) - 1) / ((samples[-1][0] - samples[0][0]) / 1000)
            path.rename(kept / f"{tag}-{path.name}")
        window = created / achieved if achieved else max(0.001, elapsed - job.hold_ms / 1000)
        if commands:
            extra.update(redis_stats.as_extra(redis_stats.per_call(commands_before, commands(), created)))
        # Calls that never completed (sipp timed out) count as failures too.
        failed = max(failed, created - succeeded)
        return StepResult(
            rate=per_rate * procs_needed, seconds=window, created=created,
            succeeded=succeeded, failed=failed, latencies_ms=latencies, cpu=cpu, peak_memory=peak,
            extra=extra,
        )


def last_stat_row(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    rows = list(csv.DictReader(path.read_text().splitlines(), delimiter=";"))
    return rows[-1] if rows else {}


def read_rtt(path: Path) -> list[tuple[float, float]]:
    """sipp -trace_rtt lines: date_ms;response_time_ms;rtd_no -> (ms since sipp started, ms)."""
    out = []
    for line in path.read_text().splitlines():
        parts = line.split(";")
        if len(parts) >= 3:
            try:
                out.append((float(parts[0]), float(parts[1])))
            except ValueError:
                continue  # the header
    return sorted(out)
