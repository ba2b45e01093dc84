"""CPU time and memory of the processes a load run started, read from /proc."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def group_pids(leader: int) -> list[int]:
    """The leader and every process in its process group (Kamailio's forked workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == leader or int(fields[2]) == leader:  # fields[2]: pgrp
            pids.append(int(entry.name))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of the processes. `stat` counts every thread, dead ones too, but in 10 ms
    ticks: a quiet process's few milliseconds in a short step round to nothing. Its threads'
    `schedstat` counts nanoseconds, but only threads still alive. The larger of the two."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
        total += max(ticks, _threads_schedstat(pid))
    return total


def _threads_schedstat(pid: int) -> float:
    total = 0
    for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(task.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def memory_bytes(pids: list[int]) -> int:
    """Proportional set size: shared memory counted once across forked workers."""
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
                break
    return total


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (everything but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICKS


@dataclass
class Component:
    """A named set of processes (all of Kamailio, Redis, rtpengine) to account for."""

    name: str
    leader: int

    def pids(self) -> list[int]:
        return group_pids(self.leader)
