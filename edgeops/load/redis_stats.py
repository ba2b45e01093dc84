"""Redis commands per call, counted by Redis itself (`INFO commandstats`), by command.

Commands a Lua script or a MULTI block runs count one each, as Redis counts them; the
script's own EVALSHA and the EXEC count too. A step's delta divided by the calls made is
what one call costs Redis; the INFO calls of the runner itself are left out."""

from __future__ import annotations

from collections.abc import Mapping

CommandCounts = dict[str, int]  # command name (lower case) -> calls
TOTAL = "redis_commands_per_call"  # a step's `extra` keys: the total, and one per command
PREFIX = "redis_cmd_"


def command_counts(commandstats: Mapping[str, Mapping[str, object]]) -> CommandCounts:
    """redis-py's `info("commandstats")` (`cmdstat_get: {calls: 3, ...}`) -> {"get": 3}."""
    return {name.removeprefix("cmdstat_"): int(str(stats.get("calls", 0)))
            for name, stats in commandstats.items()}


def per_call(before: CommandCounts, after: CommandCounts, calls: int) -> dict[str, float]:
    """Each command's increase per call, highest first, plus "all"; the runner's INFO left out."""
    if calls <= 0:
        return {}
    grown = {name: n - before.get(name, 0) for name, n in after.items() if name != "info"}
    out = {name: round(n / calls, 2) for name, n in sorted(grown.items(), key=lambda kv: (-kv[1], kv[0])) if n > 0}
    return {"all": round(sum(grown.values()) / calls, 2), **out}


def as_extra(by_command: Mapping[str, float]) -> dict[str, float]:
    """`per_call`'s answer as a step's `extra` entries."""
    return {(TOTAL if name == "all" else PREFIX + name): n for name, n in by_command.items()}


def summary(extra: Mapping[str, float], top: int = 8) -> str:
    """A step's commands per call for a report cell: `"3: get 2, evalsha 1"`."""
    if TOTAL not in extra:
        return "-"
    rest = [f"{name.removeprefix(PREFIX)} {n:g}" for name, n in extra.items() if name.startswith(PREFIX)][:top]
    return f"{extra[TOTAL]:g}: " + ", ".join(rest)
