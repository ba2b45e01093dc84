from __future__ import annotations

import pytest

from kemi_app.policy.dialplan import DestKind, classify


@pytest.mark.parametrize(
    ("dialled", "kind"),
    [("100", DestKind.SERVICE), ("1001", DestKind.AGENT), ("12345", DestKind.AGENT), ("", DestKind.INVALID),
     ("12", DestKind.INVALID), ("abcd", DestKind.INVALID), ("١٢٣٤", DestKind.INVALID)],
)
def test_classify(dialled: str, kind: DestKind) -> None:
    assert classify(dialled).kind is kind


def test_invalid_numbers_carry_an_answer() -> None:
    assert (classify("").status, classify("").reason) == (484, "Address Incomplete")
    assert classify("12").status == 404
