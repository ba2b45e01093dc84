"""The launcher's restart backoff: 0.5 s doubling to 10 s, reset after a stable run."""

from __future__ import annotations

from edgeops.supervise import MAX_DELAY, STABLE, Phase, Watch, restart_delay


def test_delays_double_up_to_the_cap() -> None:
    assert [restart_delay(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, MAX_DELAY, MAX_DELAY]


def test_a_component_that_keeps_dying_waits_longer_each_time() -> None:
    w = Watch(since=0.0)
    assert w.died(1.0) == 0.5
    assert not w.due(1.4) and w.due(1.5)
    w.starting(1.5)
    assert w.died(2.0) == 1.0  # died again while starting
    w.starting(3.0)
    w.ready(3.5)
    assert w.died(4.0) == 2.0  # up only briefly: still the same run of failures


def test_a_stable_run_resets_the_backoff() -> None:
    w = Watch(since=0.0)
    for t in (1.0, 2.0, 4.0):
        w.died(t)
        w.starting(t + 0.5)
    w.ready(10.0)
    assert w.died(10.0 + STABLE) == 0.5


def test_ready_reports_the_whole_outage() -> None:
    w = Watch(since=0.0)
    w.died(100.0)
    w.starting(100.5)
    w.died(101.0)  # the first restart never became ready
    w.starting(102.0)
    assert w.ready(103.0) == 3.0
    assert w.phase is Phase.UP
