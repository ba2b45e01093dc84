"""Pure decisions of a load ramp: when a step counts as sustained, which rate was the best."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

MAX_FAILURE_RATIO = 0.001  # 0.1%
P99_LIMIT_MS = 200.0  # a call setup or a REGISTER (two round trips) slower than this is degraded
P50_DEGRADATION = 10.0  # ... and so is a median ten times the first step's
P50_FLOOR_MS = 5.0
MIN_ACHIEVED = 0.9  # the load generator must reach 90% of the asked rate, or the box is saturated


@dataclass
class StepResult:
    rate: int  # asked calls (or REGISTERs) per second
    seconds: float  # wall time the step's load took
    created: int
    succeeded: int
    failed: int
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    cpu: dict[str, float] = field(default_factory=dict)  # component -> CPU seconds used in the step
    peak_memory: dict[str, int] = field(default_factory=dict)  # component -> peak bytes
    extra: dict[str, float] = field(default_factory=dict)
    verdict: str = ""
    target_per_second: float = 0.0  # what the generator should produce (0: `rate`)
    max_failure_ratio: float = MAX_FAILURE_RATIO

    @property
    def failure_ratio(self) -> float:
        return self.failed / self.created if self.created else 1.0

    @property
    def achieved_rate(self) -> float:
        return self.created / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def cpu_per_1000(self, component: str) -> float:
        return 1000 * self.cpu.get(component, 0.0) / self.succeeded if self.succeeded else math.nan

    def summary(self) -> dict[str, object]:
        data = asdict(self)
        del data["latencies_ms"]
        data.update(
            failure_ratio=self.failure_ratio, achieved_rate=round(self.achieved_rate, 1),
            p50_ms=self.percentile(50), p90_ms=self.percentile(90), p99_ms=self.percentile(99),
            cpu_per_1000={name: round(self.cpu_per_1000(name), 4) for name in self.cpu},
        )
        return data


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def verdict(step: StepResult, first: StepResult | None) -> str:
    """'ok', or why the step is not sustained."""
    if step.failure_ratio > step.max_failure_ratio:
        return f"failures {100 * step.failure_ratio:.2f}% > {100 * step.max_failure_ratio:.1f}%"
    wanted = step.target_per_second or step.rate
    if step.achieved_rate < MIN_ACHIEVED * wanted:
        return f"only {step.achieved_rate:.0f}/s of {wanted:.0f}/s generated"
    p99 = step.percentile(99)
    if p99 > P99_LIMIT_MS:
        return f"p99 {p99:.0f} ms > {P99_LIMIT_MS:.0f} ms"
    if first is not None:
        limit = max(P50_FLOOR_MS, P50_DEGRADATION * first.percentile(50))
        if step.percentile(50) > limit:
            return f"p50 {step.percentile(50):.1f} ms > {limit:.1f} ms"
    return "ok"


def sustained(steps: list[StepResult]) -> StepResult | None:
    """The highest step that passed, among steps up to the first one that did not."""
    best = None
    for step in steps:
        if verdict(step, steps[0]) != "ok":
            break
        best = step
    return best
