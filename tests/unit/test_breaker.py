"""The circuit breaker's transitions, with time passed in."""

from __future__ import annotations

from kemi_app.policy.breaker import Breaker, BreakerState, opened

T0 = 100.0


def open_breaker() -> Breaker:
    b = Breaker(threshold=3, cooldown=2.0)
    for _ in range(3):
        b = b.failed(T0)
    return b


def test_closed_admits_every_call() -> None:
    ok, b = Breaker().admit(T0)
    assert ok and b.state is BreakerState.CLOSED


def test_failures_below_the_threshold_keep_it_closed() -> None:
    b = Breaker(threshold=3).failed(T0).failed(T0)
    assert b.state is BreakerState.CLOSED and b.admit(T0)[0]


def test_a_success_resets_the_failure_count() -> None:
    b = Breaker(threshold=3).failed(T0).failed(T0).succeeded().failed(T0).failed(T0)
    assert b.state is BreakerState.CLOSED


def test_threshold_failures_in_a_row_open_it() -> None:
    before = Breaker(threshold=3).failed(T0).failed(T0)
    after = before.failed(T0)
    assert after.state is BreakerState.OPEN
    assert opened(before, after)


def test_open_refuses_during_the_cooldown() -> None:
    ok, b = open_breaker().admit(T0 + 1.9)
    assert not ok and b.state is BreakerState.OPEN


def test_after_the_cooldown_one_probe_goes_half_open() -> None:
    ok, b = open_breaker().admit(T0 + 2.0)
    assert ok and b.state is BreakerState.HALF_OPEN
    again, _ = b.admit(T0 + 2.1)
    assert not again, "a second call went out while the probe is pending"


def test_probe_success_closes_it() -> None:
    _, b = open_breaker().admit(T0 + 2.0)
    b = b.succeeded()
    assert b.state is BreakerState.CLOSED and b.failures == 0 and b.admit(T0 + 2.1)[0]


def test_probe_failure_opens_it_for_another_cooldown() -> None:
    _, half = open_breaker().admit(T0 + 2.0)
    b = half.failed(T0 + 2.5)
    assert b.state is BreakerState.OPEN and opened(half, b)
    assert not b.admit(T0 + 4.4)[0]
    assert b.admit(T0 + 4.5)[0]


def test_a_lost_probe_is_replaced_after_a_cooldown() -> None:
    _, half = open_breaker().admit(T0 + 2.0)
    ok, b = half.admit(T0 + 4.0)
    assert ok and b.state is BreakerState.HALF_OPEN


def test_failures_while_open_do_not_count_as_a_new_opening() -> None:
    b = open_breaker()
    later = b.failed(T0 + 1)
    assert not opened(b, later)
    assert later.admit(T0 + 2.0)[0], "a failure reported while open extended the cooldown"


def test_retry_after_is_the_rest_of_the_cooldown_in_whole_seconds() -> None:
    b = Breaker(threshold=1, cooldown=5.0).failed(T0)
    assert b.retry_after(T0) == 5
    assert b.retry_after(T0 + 4.5) == 1
    assert b.retry_after(T0 + 9) == 1
    assert Breaker().retry_after(T0) == 1


def test_a_success_on_a_healthy_breaker_changes_nothing() -> None:
    b = Breaker(threshold=3)
    assert b.succeeded() is b
    assert b.failed(T0).succeeded() == b
