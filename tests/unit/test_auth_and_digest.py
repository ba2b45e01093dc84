from __future__ import annotations

from kemi_app.policy.auth_policy import after_failure, counts_per_agent
from kemi_app.policy.digest import ha1, looks_like_ha1


def test_ha1_is_md5_of_user_realm_password() -> None:
    # RFC 2617 style: MD5("1001:demo.test:demo1001")
    value = ha1("1001", "demo.test", "demo1001")
    assert looks_like_ha1(value)
    assert value == __import__("hashlib").md5(b"1001:demo.test:demo1001").hexdigest()
    assert ha1("1001", "other.test", "demo1001") != value


def test_failures_are_challenged_until_the_limit() -> None:
    assert after_failure(1, 3).challenge
    assert after_failure(2, 3).challenge
    verdict = after_failure(3, 3)
    assert (verdict.challenge, verdict.status) == (False, 403)


def test_failures_count_per_agent_only_for_existing_agents() -> None:
    assert counts_per_agent(True)
    assert not counts_per_agent(False)  # made-up names share the source's counter
