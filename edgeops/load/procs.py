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
    """On-CPU time of the processes and their threads, in nanoseconds from schedstat: a short
    step of a lean process uses less than one clock tick, which /proc/<pid>/stat rounds to 0."""
    total_ns = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                total_ns += int((task / "schedstat").read_text().split()[0])
            except (OSError, IndexError, ValueError):
                continue
    return total_ns / 1e9


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


@dataclass
class Components(Component):
    """Several process groups under one name (the Kamailio of every cluster node)."""

    others: tuple[int, ...] = ()

    def pids(self) -> list[int]:
        return [pid for leader in (self.leader, *self.others) for pid in group_pids(leader)]
