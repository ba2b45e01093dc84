"""Credentials at rest: the edge's Redis wants a password, and every secret on disk is readable
by the edge's user only, never shown in `ps` or in Kamailio's log."""

from __future__ import annotations

import stat
import subprocess
from contextlib import suppress
from pathlib import Path

import pytest
import redis

from edgeops.stack import Stack


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _tree_modes(root: Path) -> dict[str, int]:
    """Modes below `root`, directories with a trailing /; a temp file renamed meanwhile is skipped."""
    out = {}
    for path in root.rglob("*"):
        with suppress(FileNotFoundError):
            out[str(path.relative_to(root)) + ("/" if path.is_dir() else "")] = _mode(path)
    return out


def test_redis_refuses_a_client_without_the_password(edge: Stack) -> None:
    bare = redis.Redis(host="127.0.0.1", port=edge.settings.redis_port, socket_timeout=2)
    with pytest.raises(redis.AuthenticationError, match="NOAUTH|Authentication required"):
        bare.get("edge:agents:demo")
    wrong = redis.Redis(host="127.0.0.1", port=edge.settings.redis_port, password="guess", socket_timeout=2)
    with pytest.raises((redis.AuthenticationError, redis.ResponseError), match="WRONGPASS"):
        wrong.ping()


def test_secrets_and_redis_data_are_private(edge: Stack) -> None:
    data = edge.data_dir
    assert _mode(data) == 0o700
    for secret in (edge.redis_password_file, data / "auth_secret", data / "tls" / "edge-dev.pem",
                   data / "run" / "redis.conf"):
        assert _mode(secret) == 0o600, secret
    assert _mode(data / "redis") == 0o700
    modes = _tree_modes(data / "redis")
    assert any(name.endswith(".aof") for name in modes), modes
    assert modes == {name: 0o700 if name.endswith("/") else 0o600 for name in modes}


def test_no_secret_on_a_command_line_or_in_kamailio_log(edge: Stack) -> None:
    password = edge.settings.redis_password
    assert len(password) >= 32
    ps = subprocess.run(["ps", "-eww", "-o", "args="], capture_output=True, text=True, check=True).stdout
    assert f"redis-server 127.0.0.1:{edge.settings.redis_port}" in ps
    for secret in (password, edge.auth_secret(), edge.api_token()):
        assert secret not in ps
    # Test edges log at debug level (3), the most Kamailio ever writes.
    log = (edge.data_dir / "logs" / "kamailio.log").read_text(errors="replace")
    assert "returning define ID" in log  # the level at which Kamailio logs every define's value
    for secret in (password, edge.auth_secret(), edge.api_token()):
        assert secret not in log
