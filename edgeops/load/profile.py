"""Where the edge's Python time goes: py-spy samples the busiest Kamailio worker while load
runs, and the collapsed stacks are reduced to the functions that cost the most."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from edgeops.load.procs import cpu_seconds


def busiest(pids: list[int], window: float = 1.0) -> int:
    before = {pid: cpu_seconds([pid]) for pid in pids}
    time.sleep(window)
    return max(pids, key=lambda pid: cpu_seconds([pid]) - before[pid])


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def record(pid: int, seconds: int, out: Path) -> Path | None:
    """Collapsed stacks ("frame;frame;frame count" lines) of one process, or None without py-spy."""
    exe = py_spy()
    if exe is None:
        return None
    proc = subprocess.run(
        [exe, "record", "-p", str(pid), "-d", str(seconds), "-r", "200", "-f", "raw", "-o", str(out), "--nonblocking"],
        capture_output=True, text=True, timeout=seconds + 60,
    )
    return out if proc.returncode == 0 and out.exists() else None


NATIVE = "(Kamailio C code, no Python frame)"
PROJECT = "kemi_app/"


Ranked = list[tuple[str, int, int]]  # (function, self samples, inclusive samples)


def top_functions(collapsed: str, limit: int = 10) -> tuple[int, Ranked, Ranked]:
    """(total samples, frames by self time, project functions by inclusive time). Frames on almost every stack (the KEMI
    entry points and the exception guard) say nothing and are left out of the second list."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f for f in stack.split(";") if f.strip()] or [NATIVE]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    by_self = [(f, n, inclusive[f]) for f, n in own.most_common(limit)]
    ours = [(f, own[f], n) for f, n in inclusive.most_common() if PROJECT in f and n < 0.85 * total]
    return total, by_self, ours[:limit]
