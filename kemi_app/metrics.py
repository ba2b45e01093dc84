"""The edge's Prometheus metrics: every name in one place, with tiny helpers to record them.

Kamailio runs the KEMI app in many forked worker processes without Python threads, so
prometheus_client runs in multiprocess mode: each worker writes its samples to mmap files
in PROMETHEUS_MULTIPROC_DIR (set and wiped by the launcher before Kamailio starts), and the
worker that answers GET /metrics sums them all. Counts therefore add up across workers.
Why not xhttp_prom: its metrics must be declared in kamailio.cfg, unused label sets expire,
and it cannot include what only Python knows at scrape time (agents per state in Redis).

Labels are bounded: org (tenants), method, kind, status code, result, reason, rule, op,
dependency, store, rtpengine (a configured pool member).
Never a label per call, per number or per agent. Callers pass constants, not user input.

Gauges that describe shared state (agents by state, active calls, Kamailio's own
statistics) are computed when scraped, not kept per worker: see `render`.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from kemi_app.metricvalues import MmapValue

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # before any metric exists: each takes its value class
    prometheus_values.ValueClass = MmapValue

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
KNOWN_METHODS = frozenset(
    ("INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "MESSAGE", "UPDATE", "REFER", "NOTIFY",
     "SUBSCRIBE", "INFO", "PRACK", "PUBLISH")
)
UNKNOWN = "unknown"
FAST_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

# (name, help, type) of every metric below: /metrics lists them even before a first sample,
# so dashboards and alerts find every family on a fresh edge.
DECLARED: list[tuple[str, str, str]] = []


def _counter(name: str, help_text: str, labels: list[str]) -> Counter:
    DECLARED.append((name, help_text, "counter"))
    return Counter(name, help_text, labels)


class _Histogram(Histogram):
    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        """Histogram.observe for a labelled child, its bucket found by bisection (the first
        upper bound >= amount, as Histogram's scan finds it). No exemplars (multiprocess)."""
        self._sum.inc(amount)
        self._buckets[bisect_left(self._upper_bounds, amount)].inc(1)


def _histogram(name: str, help_text: str, labels: list[str]) -> Histogram:
    DECLARED.append((name, help_text, "histogram"))
    return _Histogram(name, help_text, labels, buckets=FAST_BUCKETS)


# -- routing decisions ---------------------------------------------------------------
REGISTRATIONS = _counter("edge_registrations", "Final answers to REGISTER requests", ["org", "status"])
AUTH_FAILURES = _counter("edge_auth_failures", "Failed digest authentications", ["org", "method", "reason"])
CALLS = _counter("edge_calls", "Calls (initial INVITEs) by route kind and final status", ["org", "kind", "status"])
PAUSE_BLOCKS = _counter("edge_pause_blocks", "Calls refused because the agent is paused", ["org", "reason"])
COUNTRY_BLOCKS = _counter("edge_country_blocks", "Outbound calls refused by country policy", ["org", "reason"])
QUEUE_OFFERS = _counter("edge_queue_offers", "Queue calls offered to an agent, by result", ["org", "result"])
QUEUE_CALLS = _counter("edge_queue_calls", "Queue calls by outcome: waited (had to wait for a member), answered-in-sl "
                       "(answered within the queue's service level from entering it), answered-late, abandoned "
                       "(the caller hung up first), timeout (max_wait reached)", ["org", "result"])
QUEUE_OVERFLOWS = _counter("edge_queue_overflows", "Queue calls that overflowed", ["org", "reason"])
TRANSFERS = _counter("edge_transfers", "Call transfers by kind and result", ["org", "kind", "result"])
SIP_REFUSED = _counter("edge_sip_refused", "Requests and responses refused before routing (flood, foreign dialog, "
                       "stray response, replayed credentials, hand-over not from a peer or badly signed)", ["reason"])
RECORDINGS_STARTED = _counter("edge_recordings_started", "Call recordings started, by trigger (api, agent, rule)",
                              ["org", "trigger"])
RECORDINGS_FAILED = _counter("edge_recordings_failed", "Call recordings that failed, by stage (start, media, audio)",
                             ["reason"])
RECORDING_BYTES = _counter("edge_recording_bytes", "Bytes of recording audio files written", [])
INTERORG_REFUSALS = _counter("edge_interorg_refusals", "Calls between orgs refused, by rule", ["org", "rule"])

# -- errors and latency ----------------------------------------------------------------
ROUTE_EXCEPTIONS = _counter("edge_route_exceptions", "Exceptions caught at the top of a KEMI route", ["route"])
REDIS_ERRORS = _counter("edge_redis_errors", "Redis operations that raised", ["op"])
BREAKER_OPENS = _counter("edge_breaker_opens", "Circuit breakers opened: a worker stopped waiting on a dependency",
                         ["dependency"])
UNREPLICATED = _counter("edge_redis_unreplicated_writes", "Acknowledged writes no replica confirmed within the "
                        "wait (behind Sentinel): lost if the primary dies before it catches up", ["store"])
HISTORY_DIRECT = _counter("edge_history_direct_writes", "History writes a worker sent to Redis itself: the history "
                          "writer's queue was full", [])
MEDIA_CALLS_LOST = _counter("edge_media_calls_lost", "Calls ended because the rtpengine holding their media "
                            "stopped answering", ["rtpengine"])
REDIS_SECONDS = _histogram("edge_redis_seconds", "Latency of state operations (Redis round trips)", ["op"])
POLICY_SECONDS = _histogram("edge_policy_seconds", "Latency of pure policy decisions", ["decision"])
REQUEST_SECONDS = _histogram("edge_request_seconds", "Python time spent routing one SIP request", ["method"])


# Labelled children by metric and label values: labels() validates, formats and locks on
# every call. Bounded as the labels are (see above).
_CHILDREN: dict[tuple[Any, ...], Any] = {}


def _labelled(metric: Counter, *labels: str) -> Any:
    child = _CHILDREN.get((metric, *labels))
    if child is None:
        child = _CHILDREN[(metric, *labels)] = metric.labels(*labels)
    return child


def _method(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"


def _status(status: int) -> str:
    return str(status) if 100 <= status <= 699 else "other"


def registration(org: str, status: int) -> None:
    _labelled(REGISTRATIONS, org or UNKNOWN, _status(status)).inc()


def auth_failure(org: str, method: str, reason: str) -> None:
    _labelled(AUTH_FAILURES, org or UNKNOWN, _method(method), reason).inc()


def call_final(org: str, kind: str, status: int) -> None:
    _labelled(CALLS, org or UNKNOWN, kind or UNKNOWN, _status(status)).inc()


def pause_block(org: str, reason: str) -> None:
    _labelled(PAUSE_BLOCKS, org or UNKNOWN, reason).inc()


def country_block(org: str, reason: str) -> None:
    _labelled(COUNTRY_BLOCKS, org or UNKNOWN, reason).inc()


def queue_offer(org: str, result: str) -> None:
    _labelled(QUEUE_OFFERS, org or UNKNOWN, result).inc()


def queue_call(org: str, result: str) -> None:
    _labelled(QUEUE_CALLS, org, result).inc()


def queue_overflow(org: str, reason: str) -> None:
    _labelled(QUEUE_OVERFLOWS, org or UNKNOWN, reason).inc()


def transfer(org: str, kind: str, result: str) -> None:
    _labelled(TRANSFERS, org or UNKNOWN, kind, result).inc()


def interorg_refusal(org: str, rule: str) -> None:
    _labelled(INTERORG_REFUSALS, org or UNKNOWN, rule).inc()


def recording_started(org: str, trigger: str) -> None:
    _labelled(RECORDINGS_STARTED, org or UNKNOWN, trigger).inc()


def recording_failed(reason: str) -> None:
    _labelled(RECORDINGS_FAILED, reason).inc()


def recording_bytes(size: int) -> None:
    RECORDING_BYTES.inc(size)


def sip_refused(reason: str) -> None:
    _labelled(SIP_REFUSED, reason).inc()


def route_exception(route: str) -> None:
    _labelled(ROUTE_EXCEPTIONS, route).inc()


def breaker_open(dependency: str) -> None:
    _labelled(BREAKER_OPENS, dependency).inc()


def unreplicated_write(store: str) -> None:
    _labelled(UNREPLICATED, store).inc()


def history_overflow() -> None:
    HISTORY_DIRECT.inc()


def media_calls_lost(rtpengine: str, count: int) -> None:
    _labelled(MEDIA_CALLS_LOST, rtpengine).inc(count)


# Labelled children of the per-message histograms, by label value: labels() formats and
# locks on every call. Filled on first use, so /metrics shows only methods seen.
_REQUEST_BY_METHOD: dict[str, Any] = {}
_POLICY_BY_DECISION: dict[str, Any] = {}


def _child(children: dict[str, Any], metric: Histogram, label: str) -> Any:
    child = children.get(label)
    if child is None:
        child = children[label] = metric.labels(label)
    return child


def request_seconds(method: str, seconds: float) -> None:
    hist = _REQUEST_BY_METHOD.get(method) or _child(_REQUEST_BY_METHOD, REQUEST_SECONDS, _method(method))
    hist.observe(seconds)


@contextmanager
def policy_timer(decision: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        _child(_POLICY_BY_DECISION, POLICY_SECONDS, decision).observe(time.perf_counter() - start)


T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
_CACHED = "_edge_answers_from_cache"


def timed_state(cls: type[T]) -> type[T]:
    """Class decorator for the Redis state: every public method records its latency and
    errors under op=<method name>, so new state methods are measured without extra code.
    Methods marked `cached` are left out."""
    for name, fn in list(vars(cls).items()):
        if name.startswith("_") or not callable(fn) or getattr(fn, _CACHED, False):
            continue
        setattr(cls, name, _timed(name, fn))
    return cls


def cached(fn: F) -> F:
    """A state method that answers from a per-worker cache: a hit is no Redis operation and
    is not observed; what a miss reads is timed where it is read (`timed_as`, or the store
    it asks)."""
    setattr(fn, _CACHED, True)
    return fn


def timed_as(op: str) -> Callable[[F], F]:
    """A private state method timed under `op`: the Redis part of a `cached` one."""

    def decorate(fn: F) -> F:
        return cast(F, _timed(op, fn))

    return decorate


def _timed(op: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    hist = REDIS_SECONDS.labels(op)
    errors = REDIS_ERRORS.labels(op)

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        except Exception:
            errors.inc()
            raise
        finally:
            hist.observe(time.perf_counter() - start)

    return wrapper


# -- scrape-time families -----------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """Samples measured at scrape time (Kamailio statistics, shared state in Redis)."""

    name: str
    help: str
    kind: str = "gauge"  # or "counter" (name without _total)
    labels: tuple[str, ...] = ()
    samples: tuple[tuple[tuple[str, ...], float], ...] = ()


class _Snapshot:
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> list[Metric]:
        return self.metrics


def _metric(f: Family) -> Metric:
    cls = CounterMetricFamily if f.kind == "counter" else GaugeMetricFamily
    family = cls(f.name, f.help, labels=list(f.labels))
    for values, value in f.samples:
        family.add_metric(list(values), value)
    return family


def render(families: Iterable[Family] = ()) -> bytes:
    """The /metrics body: counters and histograms summed over all worker processes, the
    families the caller measured just now, and every declared family even if still empty."""
    # Outside Kamailio (tools, unit tests) the samples live in this process's registry.
    source = MultiProcessCollector(None) if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else REGISTRY
    collected = [*source.collect(), *(_metric(f) for f in families)]
    seen = {m.name for m in collected}
    collected += [Metric(name, help_text, kind) for name, help_text, kind in DECLARED if name not in seen]
    registry = CollectorRegistry()
    registry.register(_Snapshot(collected))  # type: ignore[arg-type]
    return generate_latest(registry)
