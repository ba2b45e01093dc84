"""edgectl against the edge under test: the same operations as the API, from a shell."""

from __future__ import annotations

import json
import os
import subprocess

from tests.conftest import API_TOKEN, ROOT


def edgectl(edge, *args: str, token: str | None = API_TOKEN, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "EDGE_API_TOKEN"}
    env.update({"EDGE_ADMIN_ADDR": "127.0.0.1", "EDGE_ADMIN_PORT": str(edge.settings.admin_port),
                "EDGE_DATA_DIR": str(edge.data_dir)})
    if token is not None:
        env["EDGE_API_TOKEN"] = token
    return subprocess.run([str(ROOT / "edgectl"), *args], env=env, input=stdin, capture_output=True, text=True,
                          timeout=30)


def out(result: subprocess.CompletedProcess[str]) -> object:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_provisioning_and_agent_state_from_the_shell(edge) -> None:
    assert out(edgectl(edge, "org", "set", "ctl", "--domain", "ctl.test"))["domain"] == "ctl.test"
    company = out(edgectl(edge, "company", "set", "ctl", "ops", "--block-calls-during-pause", "on",
                          "--allowed-country-codes", "55,1"))
    assert company["block_calls_during_pause"] is True and company["allowed_country_codes"] == ["55", "1"]
    # `set` changes only what it is given.
    company = out(edgectl(edge, "company", "set", "ctl", "ops", "--name", "Operations"))
    assert (company["name"], company["block_calls_during_pause"]) == ("Operations", True)
    agent = out(edgectl(edge, "agent", "set", "ctl", "5001", "--password-stdin", "--company", "ops",
                        stdin="ctl-5001-secret\n"))
    assert agent["company"] == "ops" and "ha1" not in agent
    assert out(edgectl(edge, "agent", "pause", "ctl", "5001", "Break")) == {
        "status": "paused", "pause": "Break", "since": out(edgectl(edge, "agent", "status", "ctl", "5001"))["since"]}
    table = edgectl(edge, "presence", "ctl")
    assert table.returncode == 0 and "5001" in table.stdout and "offline" in table.stdout and "Break" in table.stdout
    assert out(edgectl(edge, "agent", "available", "ctl", "5001"))["status"] == "available"
    assert out(edgectl(edge, "agent", "dnd", "ctl", "5001", "on"))["dnd"] is True
    assert out(edgectl(edge, "agent", "session", "ctl", "5001"))["session"] is None
    assert [s["ext"] for s in out(edgectl(edge, "sessions", "ctl"))] == ["5001"]
    assert out(edgectl(edge, "gateway", "set", "ctl-gw", "--address", "127.0.0.1:5999", "--codecs", "PCMA"))[
        "codecs"] == ["PCMA"]
    assert out(edgectl(edge, "service", "set", "ctl", "200", "--kind", "queue", "--members", "5001"))["members"] == [
        "5001"]
    assert out(edgectl(edge, "did", "set", "+551140040000", "--org", "ctl", "--service", "200"))["org"] == "ctl"
    assert out(edgectl(edge, "org", "link", "ctl", "demo")) == {"org": "ctl", "target": "demo"}
    assert out(edgectl(edge, "org", "links", "ctl")) == ["demo"]
    assert "/v1/orgs/{org}/presence" in out(edgectl(edge, "openapi"))["paths"]
    assert out(edgectl(edge, "gateway", "delete", "ctl-gw"))
    assert out(edgectl(edge, "org", "delete", "ctl"))
    assert out(edgectl(edge, "did", "list")) == [d for d in out(edgectl(edge, "did", "list")) if d["org"] != "ctl"]


def test_errors_name_the_field_and_fail(edge) -> None:
    result = edgectl(edge, "company", "set", "demo", "bad", "--default-country", "0")
    assert result.returncode == 1 and "field default_country" in result.stderr
    result = edgectl(edge, "agent", "get", "demo", "9999")
    assert result.returncode == 1 and "404" in result.stderr


def test_wrong_or_missing_token(edge) -> None:
    result = edgectl(edge, "org", "list", token="nope")
    assert result.returncode == 1 and "401" in result.stderr
    # The test edge got its token from the environment: no token file to fall back on.
    result = edgectl(edge, "org", "list", token=None)
    assert result.returncode == 1 and "no API token" in result.stderr
