"""The reason each rerun test failed its first try, at the end of the run: pytest-rerunfailures
shows only an "R", and when the second try passes nothing else in the log says why the first
failed, yet a flaky test can only be fixed from that reason."""

from __future__ import annotations

import pytest

ERROR_LINES = 6  # of a failure's "E " lines: the assertion and what it compared


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reruns = terminalreporter.stats.get("rerun", [])
    if reruns:
        terminalreporter.section("reruns: why the first try failed")
    for report in reruns:
        lines = report.longreprtext.splitlines()
        where = lines[-1].strip() if lines else ""
        terminalreporter.write_line(f"{report.nodeid} ({where})")
        for line in [line for line in lines if line.startswith("E ")][:ERROR_LINES]:
            terminalreporter.write_line(f"    {line}")
