"""Names in quoted header parameters (X-Edge-Queue's name) cannot break out of the quotes."""

from __future__ import annotations

import pytest

from kemi_app.policy.contacts import split_top_level
from kemi_app.policy.sip_text import quoted_string


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("Sales", '"Sales"'),
        ('Sales "VIP"', r'"Sales \"VIP\""'),
        ("back\\slash", r'"back\\slash"'),
        ('end\\"', r'"end\\\""'),
        ("two\r\nlines\x00\x01\x7f", '"twolines"'),
        ("tab\there, ünïcode", '"tab\there, ünïcode"'),
        ("", '""'),
    ],
)
def test_quoted_string_escapes_quotes_and_backslashes_and_drops_controls(name: str, quoted: str) -> None:
    assert quoted_string(name) == quoted


@pytest.mark.parametrize("name", ['a"b', 'a\\', '\\"', '";evil=1;x="', "a,b;c=d"])
def test_a_quoted_name_stays_one_parameter(name: str) -> None:
    header = f"800;name={quoted_string(name)};next=1"
    assert split_top_level(header, ";") == ["800", f"name={quoted_string(name)}", "next=1"]
