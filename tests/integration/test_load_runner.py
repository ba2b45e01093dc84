"""`./edge load --quick` end to end: a tiny ramp of every scenario against a real edge and the
native baseline, with the report in all three formats. Full load never runs in the suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_load_run_writes_the_report_with_baseline_ratios(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edgeops.load.runner", "--quick", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    for scenario in ("register", "call"):
        for target in ("edge", "baseline"):
            result = report["scenarios"][scenario][target]
            assert result["sustained_rate"] > 0, (scenario, target, result["steps"])
            step = result["sustained_step"]
            assert step["failed"] == 0 and step["succeeded"] == step["created"] > 0
            assert step["cpu"]["kamailio"] > 0 and step["peak_memory"]["kamailio"] > 0
            assert step["p99_ms"] >= step["p50_ms"] >= 0
        assert report["ratios"][scenario]["baseline"]["kamailio_cpu_ratio"] > 0
        assert report["scenarios"][scenario]["edge"]["sustained_step"]["extra"]["redis_commands_per_call"] > 0
    # The native baseline anchors the calls' media through the same rtpengine.
    native = report["scenarios"]["call"]["native"]["sustained_step"]
    assert native["failed"] == 0 and native["succeeded"] > 0 and native["cpu"]["rtpengine"] > 0
    assert report["ratios"]["call"]["native"]["all_components_cpu_ratio"] > 0
    assert "native" not in report["scenarios"]["register"]
    for scenario in ("queue", "queue500", "outbound", "pause"):
        assert report["scenarios"][scenario]["edge"]["sustained_rate"] > 0, report["scenarios"][scenario]
    # The directory scenario repeats register and call once the directory is large.
    assert report["directory"]["agents"] == 1000 and report["directory"]["registered"] == 200
    assert report["directory"]["bytes_per_registered_agent"] > 0
    for scenario in ("register", "call"):
        assert report["scenarios"]["directory"][scenario]["sustained_rate"] > 0
    # Calls between two cluster nodes, compared with the one-node call scenario.
    cluster = report["scenarios"]["cluster"]["cluster"]
    assert cluster["sustained_rate"] > 0, cluster["steps"]
    assert cluster["sustained_step"]["cpu"]["kamailio"] > 0
    media = report["scenarios"]["media"]["rtpengine"]["steps"][0]
    assert media["created"] > 0 and media["cpu"]["rtpengine"] > 0
    assert report["scenarios"]["transcode"]["rtpengine"]["steps"][0]["succeeded"] > 0
    markdown = (tmp_path / "report.md").read_text()
    assert "## Edge / baselines, side by side" in markdown and "| register | edge |" in markdown
    assert "## Redis commands per call" in markdown and "## Directory scale" in markdown
    assert "## Queue calls against queue size" in markdown and "| queue500 | 500 |" in markdown
    assert "## Two nodes (caller on node 1, callee on node 2) against one node" in markdown
    assert (tmp_path / "report.png").read_bytes().startswith(b"\x89PNG")


def test_tiny_soak_samples_memory_and_gives_a_verdict(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edgeops.load.runner", "--soak", "0.5", "--soak-interval", "3", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    soak = json.loads((tmp_path / "report.json").read_text())["soak"]
    assert len(soak["samples"]) >= 8
    for sample in soak["samples"][1:]:
        assert sample["kamailio_pss_mb"] > 0 and sample["kamailio_shm_mb"] > 0
        assert sample["redis_used_mb"] > 0 and sample["redis_keys"] > 0
    assert max(s["rtpengine_sessions"] for s in soak["samples"]) > 0  # calls with media were up
    assert soak["load"]["call"]["succeeded"] > 0 and soak["load"]["register"]["succeeded"] > 0
    assert soak["verdict"] == "stable" or soak["verdict"].startswith("growing: ")
    assert set(soak["series"]) == {"kamailio_pss_mb", "kamailio_shm_mb", "redis_used_mb", "redis_keys",
                                   "rtpengine_sessions"}
    assert "## Soak" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "soak.png").read_bytes().startswith(b"\x89PNG")
