"""The edge's multiprocess metric values (kemi_app/metricvalues.py) write what prometheus_client's
own would: a scrape of the same samples gives the same families, and a forked worker keeps
its own file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import Counter, values
from prometheus_client.multiprocess import MultiProcessCollector

from kemi_app import metrics, metricvalues

AMOUNTS = (0.00005, 0.0001, 0.0005, 0.0007, 0.3, 1.0, 2.5, 0.0)


def _record(value_class: Any, directory: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Any]]:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    monkeypatch.setattr(values, "ValueClass", value_class)
    counter = Counter("edge_test_calls", "Calls", ["org", "status"], registry=None)
    hist = metrics._Histogram("edge_test_seconds", "Seconds", ["op"], buckets=metrics.FAST_BUCKETS, registry=None)
    counter.labels("o1", "200").inc()
    counter.labels("o1", "200").inc(2)
    counter.labels("o2", "486")  # created, never counted: listed at 0 all the same
    for amount in AMOUNTS:
        hist.labels("load").observe(amount)
    return sorted((s.name, repr(sorted(s.labels.items())), s.value)
                  for family in MultiProcessCollector(None, str(directory)).collect() for s in family.samples)


def test_a_scrape_reads_what_prometheus_client_would_have_written(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()
    ours = _record(metricvalues.MmapValue, tmp_path / "ours", monkeypatch)
    theirs = _record(values.MultiProcessValue(), tmp_path / "theirs", monkeypatch)
    assert ours == theirs
    assert ("edge_test_calls_total", repr([("org", "o1"), ("status", "200")]), 3.0) in ours


def test_a_forked_worker_counts_in_its_own_file_from_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", metricvalues.MmapValue)
    counter = Counter("edge_test_forks", "Forks", ["org"], registry=None).labels("o1")
    counter.inc(5)  # the parent, before the fork
    parent = os.getpid()
    monkeypatch.setattr(metricvalues.os, "getpid", lambda: parent + 100000)
    counter.inc()
    monkeypatch.undo()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted([f"counter_{parent}.db", f"counter_{parent + 100000}.db"])
    samples = [s for family in MultiProcessCollector(None, str(tmp_path)).collect() for s in family.samples]
    assert [(s.name, s.value) for s in samples] == [("edge_test_forks_total", 6.0)]
