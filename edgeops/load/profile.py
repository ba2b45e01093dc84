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


def top_functions(collapsed: str, limit: int = 12) -> tuple[int, list[tuple[str, int, int]]]:
    """(total samples, [(function, self samples, inclusive samples)]) by inclusive cost,
    leaving out the frames every stack shares (the KEMI entry points)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    ranked = [(f, own[f], inc) for f, inc in inclusive.most_common() if inc < total]
    return total, ranked[:limit]
