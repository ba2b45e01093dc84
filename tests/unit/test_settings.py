"""Settings: one source of defaults, documented in the README."""

from __future__ import annotations

from pathlib import Path

from kemi_app.settings import DEFAULTS, Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_variable_is_documented_in_the_readme() -> None:
    text = README.read_text()
    missing = [name for name in DEFAULTS if f"`{name}`" not in text]
    assert missing == []


def test_environment_overrides_defaults() -> None:
    s = Settings.from_env({"EDGE_SIP_PORT": "5070", "REDIS_URL": "redis://10.0.0.1:1/0"})
    assert s.sip_port == 5070
    assert s.effective_redis_url == "redis://10.0.0.1:1/0"
    assert Settings.from_env({}).sip_port == int(DEFAULTS["EDGE_SIP_PORT"][0])


def test_own_redis_when_no_url() -> None:
    s = Settings.from_env({"EDGE_REDIS_PORT": "7000"})
    assert s.effective_redis_url == "redis://127.0.0.1:7000/0"
    assert s.node_uri == "sip:127.0.0.1:5060"


def test_own_redis_url_carries_the_password_quoted() -> None:
    s = Settings.from_env({"EDGE_REDIS_PORT": "7000", "EDGE_REDIS_PASSWORD": "p@ss:w/rd"})
    assert s.effective_redis_url == "redis://:p%40ss%3Aw%2Frd@127.0.0.1:7000/0"
    # An external Redis keeps its own URL and password.
    s = Settings.from_env({"REDIS_URL": "redis://:theirs@10.0.0.1:1/0", "EDGE_REDIS_PASSWORD": "ours"})
    assert s.effective_redis_url == "redis://:theirs@10.0.0.1:1/0"
