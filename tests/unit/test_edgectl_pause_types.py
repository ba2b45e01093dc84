"""edgectl's --pause-types option: the company's pause types in one shell argument."""

from __future__ import annotations

import argparse

import pytest

from edgeops.edgectl import pause_types


def test_pause_types_option() -> None:
    assert pause_types("1:Lunch:noblock, 2:Break") == [
        {"code": "1", "name": "Lunch", "blocks_calls": False}, {"code": "2", "name": "Break", "blocks_calls": True}]
    assert pause_types("") == []


@pytest.mark.parametrize("value", ["Lunch", "1:", ":Lunch", "1:Lunch:maybe"])
def test_malformed_pause_types_are_refused(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        pause_types(value)
