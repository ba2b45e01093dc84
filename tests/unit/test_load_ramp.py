"""Load ramp decisions and report ratios, on made-up step results."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from edgeops.load.ramp import StepResult, percentile, sustained, verdict
from edgeops.load.report import BEFORE, DIRECTORY, at_80_percent, directory_lines, markdown, ratios


def step(rate: int, failed: int = 0, latency: float = 1.0, seconds: float = 10.0, cpu: float = 1.0,
         created: int | None = None) -> StepResult:
    made = rate * 10 if created is None else created
    return StepResult(rate=rate, seconds=seconds, created=made, succeeded=made - failed, failed=failed,
                      latencies_ms=[latency] * 100, cpu={"kamailio": cpu})


@given(st.lists(st.floats(0, 1e6), min_size=1), st.floats(0.01, 100))
def test_percentile_is_one_of_the_values_and_monotonic(values: list[float], q: float) -> None:
    p = percentile(values, q)
    assert p in values
    assert percentile(values, 100) == max(values)
    assert p <= percentile(values, min(100, q + 10))


def test_percentile_of_nothing_is_nan() -> None:
    assert math.isnan(percentile([], 50))


def test_verdict_reasons() -> None:
    assert verdict(step(100), None) == "ok"
    assert verdict(step(100, failed=1), None) == "ok"  # 1 in 1,000 is exactly 0.1%
    assert verdict(step(100, failed=2), None).startswith("failures 0.20%")
    assert verdict(step(100, seconds=12), None).startswith("only 83/s")
    assert verdict(step(100, latency=250), None).startswith("p99 250 ms")
    assert verdict(step(200, latency=30), step(100, latency=1)).startswith("p50 30.0 ms > 10.0 ms")
    assert verdict(step(200, latency=4), step(100, latency=0)) == "ok"  # under the 5 ms floor


def test_sustained_is_the_last_good_step_before_the_first_bad_one() -> None:
    steps = [step(100), step(200), step(300, failed=100), step(400)]
    assert sustained(steps).rate == 200
    assert sustained([step(100, failed=50)]) is None


def test_ratios_compare_cpu_per_call_at_the_highest_common_rate() -> None:
    edge = [step(100, cpu=2.0), step(200, cpu=4.0), step(300, failed=100)]
    base = [step(100, cpu=1.0), step(200, cpu=2.0), step(300, cpu=3.0), step(400, failed=100)]
    native = [step(100, cpu=1.5), step(200, cpu=3.0)]
    for s in (*edge, *base, *native):
        s.verdict = verdict(s, None)
    for s in native:
        s.cpu["rtpengine"] = s.cpu["kamailio"]  # the same media work as the edge's rtpengine below
    for s in edge:
        s.cpu["rtpengine"] = s.cpu["kamailio"] / 2
    results = {"call": {"edge": edge, "baseline": base, "native": native}}
    r = ratios(results)["call"]
    assert r["baseline"]["at_rate"] == 200
    assert r["baseline"]["kamailio_cpu_ratio"] == 2.0
    assert r["baseline"]["all_components_cpu_ratio"] == 3.0  # the bare proxy has no rtpengine
    assert (r["baseline"]["sustained_edge"], r["baseline"]["sustained_baseline"]) == (200, 300)
    assert r["native"]["kamailio_cpu_ratio"] == 4.0 / 3.0
    assert r["native"]["all_components_cpu_ratio"] == 1.0
    meta = {"command": "./edge load", "seconds": 1.0, "machine": dict.fromkeys(
        ("cpu", "cores", "memory_gb", "kernel", "kamailio", "rtpengine", "sipp", "redis"), "x")}
    text = markdown(results, meta)
    assert "| call | bare proxy | 200 | 2.00x" in text
    assert "| call | native proxy + rtpengine | 200 | 1.33x" in text
    assert "300/s: failures" in text


def test_p99_is_judged_at_the_highest_good_step_within_80_percent_of_sustained() -> None:
    steps = [step(100, latency=3.0), step(300, latency=5.0), step(400, latency=9.0), step(500, failed=200)]
    for s in steps:
        s.verdict = verdict(s, None)
    assert at_80_percent(steps).rate == 300  # sustained 400: 80% is 320
    assert at_80_percent(steps[2:]) is None  # no step that low


def _judged(*steps: StepResult) -> list[StepResult]:
    for s in steps:
        s.verdict = verdict(s, None)
    return list(steps)


DIRECTORY_STATS = {"agents": 100_000, "registered": 50_000, "bytes_per_provisioned_agent": 300.0,
                   "bytes_per_registered_agent": 900.0}


def test_large_directory_is_compared_with_the_usual_one_measured_just_before() -> None:
    usual = _judged(step(1000, cpu=1.0), step(2000, cpu=2.0), step(3000, cpu=3.0), step(4000, cpu=4.0),
                    step(5000, failed=500))
    results = {"register": {"edge": usual}, DIRECTORY: {
        "register" + BEFORE: _judged(step(3000, cpu=3.3)),  # the box is slower now than in the ramp
        "register": _judged(step(1000, cpu=1.1), step(2000, cpu=2.2), step(3000, cpu=3.5), step(4000, failed=500))}}
    lines = directory_lines(results, DIRECTORY_STATS)
    # 3.5 against the 3.3 just before (+6%), not against the ramp's 3.0 long before (+17%)
    assert "| register | 4000 | 3000 | 0.110 / 0.117 | +6% at 3000/s |" in lines


def test_large_directory_without_the_step_just_before_is_compared_with_the_ramp() -> None:
    usual = _judged(step(1000, cpu=1.0), step(2000, cpu=2.0))
    results = {"call": {"edge": usual}, DIRECTORY: {"call": _judged(step(1000, cpu=1.0), step(2000, cpu=3.0))}}
    assert "| call | 2000 | 2000 | 0.100 / 0.150 | +50% at 2000/s |" in directory_lines(results, DIRECTORY_STATS)


def test_large_directory_that_fails_the_compared_rate_has_no_ratio() -> None:
    results = {"call": {"edge": _judged(step(1000), step(2000))}, DIRECTORY: {
        "call" + BEFORE: _judged(step(1000)), "call": _judged(step(1000, failed=100))}}
    assert "| call | 2000 | 0 | n/a | |" in directory_lines(results, DIRECTORY_STATS)


def test_profile_ranks_self_and_project_inclusive_time() -> None:
    from edgeops.load.profile import NATIVE, top_functions

    collapsed = "\n".join([
        "route (kemi_app/sip/routes.py:1);auth (kemi_app/sip/auth.py:2);send (redis/connection.py:3) 6",
        "route (kemi_app/sip/routes.py:1);reply (kemi_app/sip/context.py:4) 2",
        " 2",
    ])
    total, by_self, ours = top_functions(collapsed)
    assert total == 10
    assert by_self[0] == ("send (redis/connection.py:3)", 6, 6)
    assert (NATIVE, 2, 2) in by_self
    # The route frame is on 80% of stacks; auth is ours and costs 60% with what it calls.
    assert ours[:2] == [("route (kemi_app/sip/routes.py:1)", 0, 8), ("auth (kemi_app/sip/auth.py:2)", 0, 6)]
