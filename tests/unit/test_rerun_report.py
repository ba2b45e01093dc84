"""The run's closing list of reruns names each test and why its first try failed."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_a_rerun_is_listed_with_the_reason_its_first_try_failed(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["tests.reruns"]')
    pytester.makepyfile(test_flaky="""
        import pytest

        tries = []

        @pytest.mark.flaky(reruns=1)
        def test_second_try_passes():
            tries.append(1)
            assert len(tries) > 1, "the first try lost a packet"

        def test_steady():
            pass
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.parseoutcomes() == {"passed": 2, "rerun": 1}
    result.stdout.fnmatch_lines([
        "*reruns: why the first try failed*",
        "test_flaky.py::test_second_try_passes (test_flaky.py:*: AssertionError)",
        "    E * AssertionError: the first try lost a packet",
    ])
    assert "test_steady" not in result.stdout.str().split("reruns: why")[1]


def test_a_run_without_reruns_adds_nothing(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["tests.reruns"]')
    pytester.makepyfile(test_fine="def test_fine():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "reruns: why" not in result.stdout.str()
