from __future__ import annotations

import pytest

from kemi_app.policy.dialplan import NOT_AUTHORISED, DestKind, classify
from kemi_app.provisioning.company import DEFAULT_COMPANY, Company

BR = DEFAULT_COMPANY
US_AND_BR = Company(id="x", name="x", allowed_country_codes=["55", "1"], default_country="1",
                    emergency_numbers=["911"])


@pytest.mark.parametrize(
    ("dialled", "company", "kind", "number"),
    [
        ("100", BR, DestKind.SERVICE, "100"),
        ("1001", BR, DestKind.AGENT, "1001"),
        ("12345", BR, DestKind.AGENT, "12345"),
        ("*511002", BR, DestKind.FEATURE, "*511002"),
        ("*9", BR, DestKind.FEATURE, "*9"),
        ("190", BR, DestKind.EMERGENCY, "190"),
        ("192", BR, DestKind.EMERGENCY, "192"),
        ("193", BR, DestKind.EMERGENCY, "193"),
        ("911", BR, DestKind.SERVICE, "911"),
        ("911", US_AND_BR, DestKind.EMERGENCY, "911"),
        ("190", US_AND_BR, DestKind.SERVICE, "190"),
        ("+5511987654321", BR, DestKind.EXTERNAL, "+5511987654321"),
        ("005511987654321", BR, DestKind.EXTERNAL, "+5511987654321"),
        ("11987654321", BR, DestKind.EXTERNAL, "+5511987654321"),
        ("011987654321", BR, DestKind.EXTERNAL, "+5511987654321"),
        ("1133334444", BR, DestKind.EXTERNAL, "+551133334444"),
        ("(11) 98765-4321", BR, DestKind.EXTERNAL, "+5511987654321"),
        ("2125550100", US_AND_BR, DestKind.EXTERNAL, "+12125550100"),
        ("+12125550100", US_AND_BR, DestKind.EXTERNAL, "+12125550100"),
    ],
)
def test_classify(dialled: str, company: Company, kind: DestKind, number: str) -> None:
    dest = classify(dialled, company)
    assert (dest.kind, dest.number) == (kind, number)


@pytest.mark.parametrize(
    ("dialled", "status", "reason"),
    [
        ("", 484, "Address Incomplete"),
        ("12", 484, "Address Incomplete"),
        ("119876", 484, "Address Incomplete"),
        ("+55119", 484, "Address Incomplete"),
        ("abcd", 404, "Invalid Number"),
        ("١٢٣٤", 404, "Invalid Number"),
        ("+0123456789", 404, "Invalid Number"),
        ("+1234567890123456", 404, "Invalid Number"),
        ("119876543210", 404, "Invalid Number"),
        ("+12125550100", 403, NOT_AUTHORISED),
        ("0012125550100", 403, NOT_AUTHORISED),
        ("+351912345678", 403, NOT_AUTHORISED),
    ],
)
def test_refusals_carry_an_answer(dialled: str, status: int, reason: str) -> None:
    dest = classify(dialled, BR)
    assert (dest.kind, dest.status, dest.reason) == (DestKind.INVALID, status, reason)


def test_only_carrier_destinations_go_to_carriers() -> None:
    assert classify("190", BR).to_carrier and classify("+5511987654321", BR).to_carrier
    assert not classify("1001", BR).to_carrier and not classify("100", BR).to_carrier
