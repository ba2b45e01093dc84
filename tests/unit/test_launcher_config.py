"""What the launcher writes and prints about Redis: its config file and the banner's URL."""

from __future__ import annotations

from pathlib import Path

from edgeops.run import redacted
from edgeops.stack import redis_config


def test_redis_config_quotes_any_password_and_path() -> None:
    text = redis_config(6390, Path("/var/edge data"), 'a"b\\c d\né')
    assert 'dir "/var/edge\\x20data"' in text
    assert 'requirepass "a\\x22b\\x5cc\\x20d\\x0a\\xc3\\xa9"' in text
    assert "appendonly yes" in text and "bind 127.0.0.1" in text


def test_banner_never_shows_a_redis_password() -> None:
    assert redacted("redis://:s3cret@10.0.0.1:6379/0") == "redis://:***@10.0.0.1:6379/0"
    assert redacted("rediss://edge:s3cret@redis.example:6380/2") == "rediss://edge:***@redis.example:6380/2"
    assert redacted("redis://10.0.0.1:6379/0") == "redis://10.0.0.1:6379/0"
