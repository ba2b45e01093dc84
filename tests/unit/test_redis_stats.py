"""Redis commands per call from two `INFO commandstats` snapshots."""

from __future__ import annotations

from edgeops.load.redis_stats import as_extra, command_counts, per_call, summary


def test_command_counts_reads_redis_py_commandstats() -> None:
    info = {"cmdstat_get": {"calls": 3, "usec": 9}, "cmdstat_evalsha": {"calls": 1, "usec": 40}}
    assert command_counts(info) == {"get": 3, "evalsha": 1}


def test_per_call_divides_each_commands_increase_and_leaves_out_info() -> None:
    before = {"get": 10, "info": 5, "hset": 1}
    after = {"get": 30, "info": 7, "hset": 1, "evalsha": 10}
    assert per_call(before, after, 10) == {"all": 3.0, "get": 2.0, "evalsha": 1.0}
    assert per_call(before, after, 0) == {}


def test_summary_lists_the_total_then_the_busiest_commands() -> None:
    extra = {"other_cores": 0.1, **as_extra({"all": 3.0, "get": 2.0, "evalsha": 1.0})}
    assert extra["redis_commands_per_call"] == 3.0
    assert summary(extra) == "3: get 2, evalsha 1"
    assert summary({}) == "-"
