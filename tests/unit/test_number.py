"""The E.164 normaliser: examples, then properties over arbitrary input."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kemi_app.policy.number import country_allowed, normalise

E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
country_codes = st.sampled_from(["1", "7", "33", "44", "54", "55", "351", "598"])
digit_strings = st.text(alphabet="0123456789", min_size=0, max_size=20)


@pytest.mark.parametrize(
    ("dialled", "country", "e164"),
    [
        ("+5511987654321", "55", "+5511987654321"),
        ("005511987654321", "55", "+5511987654321"),
        ("11987654321", "55", "+5511987654321"),
        ("011987654321", "55", "+5511987654321"),
        ("+55 (11) 98765-4321", "55", "+5511987654321"),
        ("2125550100", "1", "+12125550100"),
        ("0033612345678", "55", "+33612345678"),
        ("612345678", "33", "+33612345678"),
    ],
)
def test_examples(dialled: str, country: str, e164: str) -> None:
    assert normalise(dialled, country).e164 == e164


@pytest.mark.parametrize(
    ("dialled", "status"),
    [("", 484), ("+", 484), ("12345", 484), ("+5511", 484), ("+0551198765432", 404), ("+1234567890123456", 404),
     ("1198765432100", 404), ("12a45678", 404), ("*99#", 404), ("١١٩٨٧٦٥٤٣٢١", 404)],
)
def test_refusals(dialled: str, status: int) -> None:
    result = normalise(dialled, "55")
    assert not result.ok and result.status == status and result.reason


@given(st.text(max_size=30), country_codes)
def test_never_raises_and_is_either_e164_or_a_refusal(dialled: str, country: str) -> None:
    result = normalise(dialled, country)
    if result.ok:
        assert E164.match(result.e164) and result.status == 0
    else:
        assert result.status in (404, 484) and result.reason and not result.e164


@given(st.text(max_size=30), country_codes)
def test_idempotent(dialled: str, country: str) -> None:
    first = normalise(dialled, country)
    if first.ok:
        assert normalise(first.e164, country) == first
        assert normalise(first.e164, "1") == first  # E.164 input ignores the default country


@given(country_codes, st.text(alphabet="0123456789", min_size=6, max_size=12).filter(lambda s: s[0] != "0"))
def test_plus_and_00_forms_agree(country: str, rest: str) -> None:
    number = country + rest
    assert normalise("+" + number, "55") == normalise("00" + number, "55")


@given(st.text(alphabet="0123456789", min_size=10, max_size=11).filter(lambda s: s[0] != "0"))
def test_national_brazilian_numbers_get_55_with_or_without_trunk_zero(national: str) -> None:
    assert normalise(national, "55").e164 == "+55" + national
    assert normalise("0" + national, "55").e164 == "+55" + national


@given(digit_strings, country_codes)
def test_digits_keep_their_order(dialled: str, country: str) -> None:
    result = normalise(dialled, country)
    if result.ok:
        assert result.e164.endswith(dialled.lstrip("0")[-6:])


@given(country_codes, st.text(alphabet="0123456789", min_size=7, max_size=10))
def test_country_allowed_is_a_prefix_match(country: str, rest: str) -> None:
    assert country_allowed(f"+{country}{rest}", [country])
    assert not country_allowed(f"+{country}{rest}", [])
