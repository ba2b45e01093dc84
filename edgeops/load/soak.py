"""`./edge load --soak MINUTES`: a steady, moderate mix of REGISTERs and agent calls against
the edge while its memory is sampled (Kamailio PSS and shared memory, Redis bytes and keys,
rtpengine sessions), with a verdict on growth from a straight-line fit over the second half.

Call history is meant to grow (one attendance per call, kept for the retention period), so
Redis is judged per call against the history budget rather than per hour.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgeops.load.procs import memory_bytes
from edgeops.load.sipp_load import SippJob, SippLoad
from edgeops.stack import http_get
from kemi_app import rtpengine_ng
from kemi_app.state import EdgeState

MB = 1024 * 1024
REGISTER_RATE = 20  # per second
CALL_RATE = 10  # per second, each held HOLD_MS: about ten calls up at any time
HOLD_MS = 1000
CHUNK_SECONDS = 30.0  # one sipp run per chunk: bounded in calls and time
UAS_SECONDS = 50 * 60  # the callees' phones are started again before their 1 h registrations lapse
HISTORY_BYTES_PER_CALL = 2048  # what a call may add to Redis (tests/integration/test_history_budget.py)
HISTORY_KEYS_PER_CALL = 4


@dataclass(frozen=True)
class Series:
    name: str
    unit: str
    growing_per_hour: float  # a second-half slope above this is growth
    per_call: float = 0.0  # growth allowed per call (Redis: history), in the series' unit


SERIES = (
    Series("kamailio_pss_mb", "MB", 20.0),
    Series("kamailio_shm_mb", "MB", 10.0),
    Series("redis_used_mb", "MB", 20.0, HISTORY_BYTES_PER_CALL / MB),
    Series("redis_keys", "keys", 1000.0, HISTORY_KEYS_PER_CALL),
    Series("rtpengine_sessions", "sessions", 20.0),
)


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour (0 with fewer than two)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var * 3600


def judge(samples: list[dict[str, float]], calls_per_hour: float) -> dict[str, object]:
    """Per series: the second half's slope per hour and "stable" or "growing: X unit/h";
    the overall verdict names every growing series."""
    half = samples[len(samples) // 2:]
    series: dict[str, dict[str, object]] = {}
    growing = []
    for s in SERIES:
        slope = slope_per_hour([(x["t"], x[s.name]) for x in half if s.name in x])
        allowed = s.growing_per_hour + s.per_call * calls_per_hour
        verdict = "stable" if slope <= allowed else f"growing: {slope:.1f} {s.unit}/h"
        if verdict != "stable":
            growing.append(f"{s.name} {slope:.1f} {s.unit}/h")
        series[s.name] = {"slope_per_hour": round(slope, 3), "allowed_per_hour": round(allowed, 3),
                          "verdict": verdict}
    overall = "stable" if not growing else "growing: " + ", ".join(growing)
    return {"verdict": overall, "series": series, "samples_judged": len(half)}


def prometheus_value(text: str, name: str) -> float:
    """The value of an unlabelled sample in Prometheus text format (nan when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


class Sampler:
    def __init__(self, kamailio_pids: Callable[[], list[int]], admin_url: str, state: EdgeState, ng: str) -> None:
        self.kamailio_pids = kamailio_pids
        self.admin_url = admin_url
        self.state = state
        self.ng = ng

    def sample(self, t: float) -> dict[str, float]:
        _, metrics = http_get(self.admin_url + "/metrics", timeout=5.0)
        stats = rtpengine_ng.command(self.ng, {"command": "statistics"}, timeout=2.0)["statistics"]
        return {
            "t": round(t, 1),
            "kamailio_pss_mb": memory_bytes(self.kamailio_pids()) / MB,
            "kamailio_shm_mb": prometheus_value(metrics.decode(), "kamailio_shm_used_bytes") / MB,
            "redis_used_mb": int(self.state.r.info("memory")["used_memory"]) / MB,
            "redis_keys": float(self.state.r.dbsize()),
            "rtpengine_sessions": float(stats["currentstatistics"]["sessionsown"]),  # type: ignore[index]
        }


@dataclass
class Totals:
    created: int = 0
    succeeded: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Load:
    sipp: SippLoad
    job: SippJob
    rate: int
    between_chunks: Callable[[], None] = lambda: None


def keep_loading(load: Load, deadline: float, totals: Totals, tag: str) -> None:
    """sipp runs of at most CHUNK_SECONDS at the load's rate until the deadline."""
    i = 0
    while (left := deadline - time.monotonic()) > 1.0:
        load.between_chunks()
        step = load.sipp.step(load.job, load.rate, min(CHUNK_SECONDS, left), [], f"{tag}-{i}")
        totals.created += step.created
        totals.succeeded += step.succeeded
        totals.failed += step.failed
        i += 1


def soak(sampler: Sampler, loads: dict[str, Load], minutes: float, interval: float,
         log: Callable[[str], None] = print) -> dict[str, object]:
    """Runs every load for `minutes` while sampling every `interval` seconds."""
    start = time.monotonic()
    deadline = start + minutes * 60
    totals = {name: Totals() for name in loads}
    threads = [threading.Thread(target=keep_loading, args=(load, deadline, totals[name], f"soak-{name}"), daemon=True)
               for name, load in loads.items()]
    samples = [sampler.sample(0.0)]
    for thread in threads:
        thread.start()
    while time.monotonic() < deadline:
        time.sleep(max(0.0, min(interval, deadline - time.monotonic())))
        samples.append(sampler.sample(time.monotonic() - start))
        last = samples[-1]
        log(f"  soak {last['t']:7.0f} s: kamailio {last['kamailio_pss_mb']:.0f} MB PSS, "
            f"shm {last['kamailio_shm_mb']:.1f} MB, redis {last['redis_used_mb']:.1f} MB / "
            f"{last['redis_keys']:.0f} keys, rtpengine {last['rtpengine_sessions']:.0f} sessions")
    for thread in threads:
        thread.join()
    calls_per_hour = CALL_RATE * 3600 if "call" in loads else 0.0
    return {
        "minutes": minutes, "interval_seconds": interval,
        "load": {name: {"rate": load.rate, **totals[name].__dict__} for name, load in loads.items()},
        "samples": samples, **judge(samples, calls_per_hour),
    }


def markdown(result: dict) -> list[str]:
    lines = [
        f"## Soak: {result['minutes']} min of steady load, sampled every {result['interval_seconds']} s", "",
        "Load: " + "; ".join(f"{name} {v['rate']}/s ({v['succeeded']} of {v['created']} succeeded)"
                             for name, v in result["load"].items()) + ".", "",
        f"**Verdict: {result['verdict']}** (straight-line fit over the second half, "
        f"{result['samples_judged']} samples; Redis may grow by the call history's budget per call).", "",
        "| series | first | last | slope per hour (2nd half) | allowed per hour | verdict |",
        "|---|---|---|---|---|---|",
    ]
    first, last = result["samples"][0], result["samples"][-1]
    for name, s in result["series"].items():
        lines.append(f"| {name} | {first[name]:.1f} | {last[name]:.1f} | {s['slope_per_hour']} | "
                     f"{s['allowed_per_hour']} | {s['verdict']} |")
    return [*lines, "", "Every sample is in `report.json`; the plot is `soak.png`.", ""]


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    minutes = [s["t"] / 60 for s in samples]
    fig, axes = plt.subplots(len(SERIES), 1, figsize=(9, 2.4 * len(SERIES)), sharex=True)
    for ax, series in zip(axes, SERIES, strict=True):
        ax.plot(minutes, [s[series.name] for s in samples], marker=".")
        ax.set(ylabel=series.unit, title=f"{series.name}: {result['series'][series.name]['verdict']}")
    axes[-1].set(xlabel="minutes")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
