"""The soak's verdict: a straight-line fit over the second half of the samples."""

from __future__ import annotations

import math

from edgeops.load.soak import HISTORY_BYTES_PER_CALL, MB, SERIES, judge, prometheus_value, slope_per_hour


def samples(**per_hour: float) -> list[dict[str, float]]:
    """Ten minutes sampled every minute, each series rising linearly at its rate per hour
    (0 when not given) from a warm-up jump in the first half."""
    out = []
    for minute in range(11):
        t = minute * 60.0
        row = {"t": t}
        for s in SERIES:
            warm = 50.0 if minute else 0.0  # the first samples differ: not judged
            row[s.name] = 100.0 + warm + per_hour.get(s.name, 0.0) * t / 3600
        out.append(row)
    return out


def test_slope_is_per_hour() -> None:
    assert math.isclose(slope_per_hour([(0, 1.0), (1800, 2.0), (3600, 3.0)]), 2.0)
    assert slope_per_hour([(0, 5.0)]) == 0.0
    assert slope_per_hour([(10, 1.0), (10, 2.0)]) == 0.0


def test_flat_memory_is_stable_even_after_a_warm_up() -> None:
    verdict = judge(samples(), calls_per_hour=36000)
    assert verdict["verdict"] == "stable"
    assert all(s["verdict"] == "stable" for s in verdict["series"].values())


def test_growth_is_named_with_its_rate() -> None:
    verdict = judge(samples(kamailio_pss_mb=60.0), calls_per_hour=0)
    assert verdict["verdict"] == "growing: kamailio_pss_mb 60.0 MB/h"
    assert verdict["series"]["kamailio_pss_mb"]["verdict"] == "growing: 60.0 MB/h"


def test_redis_may_grow_by_the_history_budget_per_call() -> None:
    history = HISTORY_BYTES_PER_CALL / MB * 36000  # MB/h at 10 calls/s, within budget
    assert judge(samples(redis_used_mb=history), calls_per_hour=36000)["verdict"] == "stable"
    assert judge(samples(redis_used_mb=history), calls_per_hour=0)["verdict"].startswith("growing: redis_used_mb")


def test_prometheus_value() -> None:
    text = "# HELP x\nkamailio_shm_used_bytes 1048576\nkamailio_shm_used_bytes_total 3\n"
    assert prometheus_value(text, "kamailio_shm_used_bytes") == 1048576
    assert math.isnan(prometheus_value(text, "missing"))
