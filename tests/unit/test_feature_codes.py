from __future__ import annotations

import pytest

from kemi_app.extensions import Shape, shape
from kemi_app.policy.feature_codes import CODES, Feature, FeatureRequest, parse


@pytest.mark.parametrize(("dialled", "expected"), [
    ("*511002", FeatureRequest(Feature.LISTEN, "1002")),
    ("*5212345", FeatureRequest(Feature.WHISPER, "12345")),
    ("*53", FeatureRequest(Feature.BARGE, "")),
    ("*99", None),
    ("*", None),
    ("511002", None),
    ("*51a", None),
    ("*５１", None),  # full-width digits are not ASCII
])
def test_parse(dialled: str, expected: FeatureRequest | None) -> None:
    assert parse(dialled) == expected


def test_longest_code_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CODES, "5", Feature.BARGE)
    assert parse("*511002") == FeatureRequest(Feature.LISTEN, "1002")
    assert parse("*71002") is None
    assert parse("*61002") is None
    assert parse("*5") == FeatureRequest(Feature.BARGE, "")


@pytest.mark.parametrize(("dialled", "kind"), [
    ("*51", Shape.FEATURE), ("*", Shape.OTHER), ("*5x", Shape.OTHER), ("1002", Shape.AGENT), ("**1", Shape.OTHER),
])
def test_feature_shape(dialled: str, kind: Shape) -> None:
    assert shape(dialled) is kind
