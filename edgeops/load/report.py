"""The load report: JSON (every step), Markdown (the summary and edge/baseline ratios) and a
PNG plot of rate against failures and latency."""

from __future__ import annotations

import json
import math
from pathlib import Path

from edgeops.load import redis_stats, soak
from edgeops.load.ramp import StepResult, sustained

Results = dict[str, dict[str, list[StepResult]]]  # scenario -> target -> steps

# The throughput goals per second on the 2-core box.
SIP_TARGETS = {"register": 3000, "call": 700, "queue": 500, "queue500": 500, "outbound": 700, "pause": 2000,
               "cluster": 0}
QUEUE_SIZE_GOAL = 1.2  # a 500-member queue's call costs at most this times a 5-member queue's
MEDIA_TARGET_CALLS_PER_CORE = 500
DIRECTORY = "directory"  # register and call again with a large directory: scenario -> steps
DIRECTORY_SCENARIOS = ("register", "call")
BEFORE = " (usual directory)"  # in DIRECTORY: the scenario's step with the usual directory, just before
SIP_LIKE = (*SIP_TARGETS, DIRECTORY)


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _mb(value: int) -> str:
    return f"{value / 1024 / 1024:.0f}"


def common_step(a: list[StepResult], b: list[StepResult]) -> tuple[StepResult, StepResult] | None:
    """The highest rate both targets sustained (or, failing that, their first steps)."""
    best_a, best_b = sustained(a), sustained(b)
    if best_a is None or best_b is None:
        return (a[0], b[0]) if a and b else None
    rate = min(best_a.rate, best_b.rate)
    pick_a = max((s for s in a if s.rate <= rate and s.verdict == "ok"), key=lambda s: s.rate)
    pick_b = max((s for s in b if s.rate <= rate and s.verdict == "ok"), key=lambda s: s.rate)
    return pick_a, pick_b


BASELINES = {"baseline": "bare proxy", "native": "native proxy + rtpengine"}
COMPONENTS = ("kamailio", "redis", "rtpengine")


def _all_cpu(step: StepResult) -> float:
    return sum(step.cpu_per_1000(c) for c in COMPONENTS if c in step.cpu)


def at_80_percent(steps: list[StepResult]) -> StepResult | None:
    """The highest good step at no more than 80% of the sustained rate: where p99 is judged."""
    best = sustained(steps)
    if best is None:
        return None
    below = [s for s in steps if s.verdict == "ok" and s.rate <= 0.8 * best.rate]
    return max(below, key=lambda s: s.rate) if below else None


def ratios(results: Results) -> dict[str, dict[str, dict[str, float]]]:
    """scenario -> baseline -> the edge compared with it at the highest rate both sustained.
    "all components" is everything each side runs: the edge's Kamailio, Redis and rtpengine
    against the baseline's Kamailio (and rtpengine for the native one)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for scenario, targets in results.items():
        for name in BASELINES:
            if "edge" not in targets or name not in targets:
                continue
            pair = common_step(targets["edge"], targets[name])
            if pair is None:
                continue
            edge, base = pair
            best_e, best_b = sustained(targets["edge"]), sustained(targets[name])
            kam_e, kam_b = edge.cpu_per_1000("kamailio"), base.cpu_per_1000("kamailio")
            all_e, all_b = _all_cpu(edge), _all_cpu(base)
            out.setdefault(scenario, {})[name] = {
                "at_rate": edge.rate,
                "kamailio_cpu_per_1000_edge": kam_e,
                "kamailio_cpu_per_1000_baseline": kam_b,
                "kamailio_cpu_ratio": kam_e / kam_b if kam_b else math.nan,
                "all_components_cpu_ratio": all_e / all_b if all_b else math.nan,
                "sustained_edge": best_e.rate if best_e else 0,
                "sustained_baseline": best_b.rate if best_b else 0,
                "sustained_ratio": (best_e.rate / best_b.rate) if best_e and best_b else math.nan,
            }
    return out


def cluster_lines(results: Results) -> list[str]:
    """Agent calls whose caller and callee sit on different nodes, against the one-node `call`."""
    pair = common_step(results.get("cluster", {}).get("cluster", []), results.get("call", {}).get("edge", []))
    if pair is None:
        return []
    cluster, single = pair
    rows = [(name, cluster.cpu_per_1000(name), single.cpu_per_1000(name))
            for name in ("kamailio", "redis", "rtpengine") if name in cluster.cpu and name in single.cpu]
    return [
        "## Two nodes (caller on node 1, callee on node 2) against one node", "",
        f"At {cluster.rate}/s (cluster) and {single.rate}/s (one node); Kamailio is both nodes together.", "",
        "| component | CPU s per 1,000 calls, cluster / one node | ratio |", "|---|---|---|",
        *(f"| {name} | {_fmt(c)} / {_fmt(o)} | {_fmt(c / o if o else math.nan, 2)}x |" for name, c, o in rows),
        "",
    ]


def to_json(results: Results, meta: dict) -> dict:
    scenarios: dict[str, dict] = {}
    for scenario, targets in results.items():
        scenarios[scenario] = {}
        for name, steps in targets.items():
            best = sustained(steps)
            scenarios[scenario][name] = {
                "sustained_rate": best.rate if best else 0,
                "sustained_step": best.summary() if best else None,
                "steps": [s.summary() for s in steps],
            }
    return {**meta, "scenarios": scenarios, "ratios": ratios(results)}


def markdown(results: Results, meta: dict) -> str:
    m = meta["machine"]
    lines = [
        "# Agent Edge load report", "",
        f"Command: `{meta['command']}` ({meta['seconds']:.0f} s). Machine: {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gb']} GB, kernel {m['kernel']}; {m['kamailio']}; {m['rtpengine']}; {m['sipp']}; {m['redis']}.",
        "sipp, the edge and the baseline share the same cores; everything runs on loopback. \"Other jobs' "
        "load\" is CPU the box spent on processes this run did not start (other sessions' tests), in cores: "
        "what it takes away from the 2 cores distorts that row.", "",
    ]
    for scenario, error in meta.get("errors", {}).items():
        lines += [f"**Scenario `{scenario}` did not complete:** {error}", ""]
    sip = {k: v for k, v in results.items() if k in SIP_TARGETS}
    if sip:
        lines += [
            "## SIP: highest sustained rate (failures <= 0.1%, p99 <= 200 ms, load generated as asked)", "",
            "| scenario | target | sustained /s | goal /s | p50 / p90 / p99 ms | p99 ms at <= 80% | "
            "Kamailio CPU s per 1,000 | Redis | rtpengine | sipp | Redis commands per call | Kamailio peak PSS MB | "
            "other jobs' load, cores | stopped at |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for scenario, targets in sip.items():
            for name, steps in targets.items():
                best = sustained(steps)
                last = steps[-1]
                stop = f"{last.rate}/s: {last.verdict}" if last.verdict != "ok" else "end of ramp"
                goal = SIP_TARGETS[scenario] or "-"
                if best is None:
                    lines.append(f"| {scenario} | {name} | 0 | {goal} | | | | | | | | | "
                                 f"{last.extra.get('other_cores', '-')} | {stop} |")
                    continue
                pcts = " / ".join(_fmt(best.percentile(q), 0) for q in (50, 90, 99))
                easy = at_80_percent(steps)
                easy_p99 = f"{_fmt(easy.percentile(99), 0)} at {easy.rate}/s" if easy else "-"
                lines.append(
                    f"| {scenario} | {name} | {best.rate} | {goal} | {pcts} | {easy_p99} | "
                    f"{_fmt(best.cpu_per_1000('kamailio'))} | "
                    f"{_fmt(best.cpu_per_1000('redis')) if 'redis' in best.cpu else '-'} | "
                    f"{_fmt(best.cpu_per_1000('rtpengine')) if 'rtpengine' in best.cpu else '-'} | "
                    f"{_fmt(best.cpu_per_1000('sipp'))} | {best.extra.get(redis_stats.TOTAL, '-')} | "
                    f"{_mb(best.peak_memory.get('kamailio', 0))} | {best.extra.get('other_cores', '-')} | {stop} |"
                )
        lines += ["", "## Edge / baselines, side by side", "",
                  "The bare proxy does digest auth, registrar and relay only; the native proxy adds Kamailio's "
                  "own rtpengine module anchoring the same calls' media (offer, answer, delete) with the flags "
                  "the edge gives plain RTP legs. \"All components\": the edge's Kamailio, Redis and rtpengine "
                  "against the baseline's Kamailio (and rtpengine, for the native proxy).", "",
                  "| scenario | compared with | at /s | Kamailio CPU per call, edge / baseline | all components, "
                  "edge / baseline | sustained rate, edge / baseline |", "|---|---|---|---|---|---|"]
        for scenario, by_baseline in ratios(sip).items():
            for name, r in by_baseline.items():
                per_1000 = f"{_fmt(r['kamailio_cpu_per_1000_edge'])} / {_fmt(r['kamailio_cpu_per_1000_baseline'])}"
                lines.append(
                    f"| {scenario} | {BASELINES[name]} | {r['at_rate']} | {_fmt(r['kamailio_cpu_ratio'], 2)}x "
                    f"({per_1000} s per 1,000) | {_fmt(r['all_components_cpu_ratio'], 2)}x | "
                    f"{r['sustained_edge']} / {r['sustained_baseline']} = {_fmt(r['sustained_ratio'], 2)}x |"
                )
        lines.append("")
        lines += cluster_lines(results)
        lines += command_lines(sip)
        lines += queue_size_lines(sip, meta.get("profile", {}))
    lines += directory_lines(results, meta.get("directory", {}))
    lines += redis_lines(meta.get("redis_per_call", {}))
    media = {k: v for k, v in results.items() if k not in SIP_LIKE}
    if media:
        lines += ["## rtpengine media (userspace relay, 50 packets/s per direction)", "",
                  "| scenario | concurrent calls | packet loss | rtpengine cores used | calls per core | "
                  "whole box busy, cores | verdict |",
                  "|---|---|---|---|---|---|---|"]
        for scenario, targets in media.items():
            for step in targets["rtpengine"]:
                lines.append(
                    f"| {scenario} | {step.rate} | {100 * step.failure_ratio:.3f}% | {step.extra['rtpengine_cores']} | "
                    f"{step.extra['calls_per_core']} | {step.extra.get('machine_busy_cores', '-')} | {step.verdict} |"
                )
        lines += ["", f"Goal: {MEDIA_TARGET_CALLS_PER_CORE} relayed G.711 calls per core under 0.5% loss; "
                  "transcode rows: PCMU to Opus and back through rtpengine.", ""]
    for scenario, prof in meta.get("py_spy", {}).items():
        python_s = prof["samples"] / prof["sample_rate"]
        lines += [
            f"## Where the edge's time goes: {scenario} at {prof['rate']}/s (py-spy, busiest Kamailio worker)", "",
            f"{prof['samples']} samples over {prof['seconds']} s ({python_s:.1f} s of the worker's wall time in "
            f"Python, blocked socket calls included; the worker used {prof['worker_cpu_seconds']} s CPU). "
            "Time in redis-py's send and read is mostly the worker waiting for Redis round trips, during which "
            f"it serves no other request. Collapsed stacks: `profile-{scenario}.txt`.", "",
        ]
        total = prof["samples"] or 1
        for title, rows in (("Costliest frames (self time)", prof["self"]),
                            ("The edge's own functions (time including what they call)", prof["project"])):
            lines += [f"{title}:", "", "| function | self % | inclusive % |", "|---|---|---|"]
            lines += [f"| `{f}` | {100 * own / total:.1f} | {100 * inc / total:.1f} |" for f, own, inc in rows]
            lines.append("")
    if results:
        lines += ["Every step, with its CPU seconds per component, is in `report.json`; the plot is `report.png`.", ""]
    return "\n".join(lines)


def command_lines(sip: Results) -> list[str]:
    """Redis' own count of commands per call at each scenario's sustained step, by command."""
    rows = [(scenario, best) for scenario, targets in sip.items() if "edge" in targets
            for best in [sustained(targets["edge"])] if best is not None and redis_stats.TOTAL in best.extra]
    if not rows:
        return []
    lines = ["## Redis commands per call (edge, Redis' `INFO commandstats` before and after the step)", "",
             "Commands run inside a Lua script or a MULTI block count one each, as Redis counts them; "
             "EVALSHA and EXEC count too. The runner's own INFO calls are left out.", "",
             "| scenario | at /s | commands per call: total, then the busiest |", "|---|---|---|"]
    lines += [f"| {scenario} | {best.rate} | {redis_stats.summary(best.extra)} |" for scenario, best in rows]
    return [*lines, ""]


def queue_size_lines(sip: Results, profile: dict) -> list[str]:
    """queue (many small queues) against queue500 (one queue with as many agents): an offer
    must not cost more as the queue grows."""
    best = {name: sustained(sip[name]["edge"]) for name in ("queue", "queue500") if "edge" in sip.get(name, {})}
    small, big = best.get("queue"), best.get("queue500")
    if small is None or big is None:
        return []
    sizes = {"queue": profile.get("agents_per_queue", "?"), "queue500": profile.get("big_queue_members", "?")}
    lines = ["## Queue calls against queue size (edge)", "",
             f"Goal: a call into the big queue costs at most {QUEUE_SIZE_GOAL:g}x one into a small queue.", "",
             "| scenario | members per queue | sustained /s | Kamailio CPU s per 1,000 | incl. Redis | "
             "Redis commands per call |", "|---|---|---|---|---|---|"]
    for name, step in (("queue", small), ("queue500", big)):
        total = step.cpu_per_1000("kamailio") + (step.cpu_per_1000("redis") if "redis" in step.cpu else 0.0)
        lines.append(f"| {name} | {sizes[name]} | {step.rate} | {_fmt(step.cpu_per_1000('kamailio'))} | "
                     f"{_fmt(total)} | {step.extra.get(redis_stats.TOTAL, '-')} |")
    kam_s, kam_b = small.cpu_per_1000("kamailio"), big.cpu_per_1000("kamailio")
    lines += ["", f"Kamailio CPU per call, 500 / 5 members: {_fmt(kam_b / kam_s if kam_s else math.nan, 2)}x.", ""]
    return lines


def directory_pair(results: Results, scenario: str) -> tuple[StepResult, StepResult] | None:
    """The usual and the large directory's steps to compare: the step measured just before the
    large directory at 80% of the usual sustained rate, and the large ramp's step at that rate
    (a report without that step: the two ramps at their highest common rate)."""
    large = results.get(DIRECTORY, {})
    again = large.get(scenario + BEFORE, [])
    if not again:
        return common_step(results.get(scenario, {}).get("edge", []), large.get(scenario, []))
    same = [s for s in large.get(scenario, []) if s.rate == again[0].rate and s.verdict == "ok"]
    return (again[0], same[0]) if same else None


def directory_lines(results: Results, stats: dict[str, float]) -> list[str]:
    """The edge with the run's usual directory against the same edge with a large one."""
    large = results.get(DIRECTORY)
    if not large or not stats:
        return []
    lines = [f"## Directory scale: {stats['agents']:,} agents provisioned, {stats['registered']:,} more registered",
             "", "The same REGISTER and agent-call ramps as above, run again on the same edge once the directory "
             "is large (the extra agents in orgs of 10,000, as tenants). CPU per call is compared at 80% of the "
             "usual sustained rate, with the usual directory measured once more just before the large one is "
             "provisioned: minutes apart, as this box's speed drifts.", "",
             "| scenario | sustained /s, usual directory | sustained /s, large | Kamailio CPU s per 1,000, "
             "usual / large | change |", "|---|---|---|---|---|"]
    for scenario in DIRECTORY_SCENARIOS:
        if scenario not in large:
            continue
        best_u, best_l = sustained(results.get(scenario, {}).get("edge", [])), sustained(large[scenario])
        rates = f"| {scenario} | {best_u.rate if best_u else 0} | {best_l.rate if best_l else 0} |"
        pair = directory_pair(results, scenario)
        if pair is None:
            lines.append(f"{rates} n/a | |")
            continue
        kam_u, kam_l = pair[0].cpu_per_1000("kamailio"), pair[1].cpu_per_1000("kamailio")
        change = f"{100 * (kam_l / kam_u - 1):+.0f}% at {pair[0].rate}/s" if kam_u else "n/a"
        lines.append(f"{rates} {_fmt(kam_u)} / {_fmt(kam_l)} | {change} |")
    lines += ["", f"Redis memory: {stats['bytes_per_provisioned_agent']:.0f} bytes per provisioned agent, "
              f"{stats['bytes_per_registered_agent']:.0f} bytes per registered agent (binding and session); "
              "per call record see \"Redis growth per call\" below.", ""]
    return lines


def redis_lines(per_call: dict[str, dict[str, float]]) -> list[str]:
    if not per_call:
        return []
    lines = ["## Redis growth per call (edge)", "",
             "Redis `used_memory` and key count before and after each scenario's ramp, divided by the calls "
             "(or REGISTERs) made. Call history is one key per call, kept for `EDGE_HISTORY_RETENTION_DAYS`; "
             "the Call-ID keys (13 h), the dialogs' end markers (60 s) and nonce claims (310 s) are still counted "
             "here. Short runs "
             "overstate: an agent's first call creates its per-agent keys (recent calls, idle since), and Redis' "
             "own tables grow in steps (a soak gives the steady figure).", "",
             "| scenario | calls | bytes per call | keys per call |", "|---|---|---|---|"]
    lines += [f"| {name} | {r['calls']} | {r['bytes_per_call']:.0f} | {r['keys_per_call']:.2f} |"
              for name, r in per_call.items()]
    return [*lines, ""]


def plot(results: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 2, figsize=(11, 3.2 * len(results)), squeeze=False)
    for row, (scenario, targets) in enumerate(results.items()):
        left, right = axes[row]
        sip = scenario in SIP_LIKE
        for name, steps in targets.items():
            rates = [s.rate for s in steps]
            left.plot(rates, [100 * s.failure_ratio for s in steps], marker="o", label=name)
            if sip:
                right.plot(rates, [s.percentile(99) for s in steps], marker="o", label=f"{name} p99")
                right.plot(rates, [s.percentile(50) for s in steps], marker=".", linestyle="--", label=f"{name} p50")
            else:
                right.plot(rates, [s.extra["rtpengine_cores"] for s in steps], marker="o", label="rtpengine cores")
        unit = "calls/s" if sip else "concurrent calls"
        left.set(title=f"{scenario}: failures", xlabel=unit, ylabel="% failed" if sip else "% lost")
        right.set(title=f"{scenario}: " + ("latency" if sip else "CPU"), xlabel=unit, ylabel="ms" if sip else "cores")
        left.legend()
        right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(out: Path, results: Results, meta: dict, soaked: dict | None = None) -> list[Path]:
    paths = [out / "report.json", out / "report.md"]
    paths[0].write_text(json.dumps({**to_json(results, meta), "soak": soaked}, indent=2, default=str) + "\n")
    paths[1].write_text(markdown(results, meta) + ("\n".join(soak.markdown(soaked)) if soaked else ""))
    if results:
        paths.append(out / "report.png")
        plot(results, paths[-1])
    if soaked:
        paths.append(out / "soak.png")
        soak.plot(soaked, paths[-1])
    return paths
