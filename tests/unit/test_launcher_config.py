"""What the launcher writes and prints about Redis and rtpengine: config files, banners, the
cluster's shared stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeops.cluster import Cluster, highly_available
from edgeops.cluster_run import banner
from edgeops.redisha import data_node_config, sentinel_config
from edgeops.run import redacted
from edgeops.stack import Stack, StackError
from kemi_app.redis_locator import SentinelLocator, parse
from kemi_app.settings import Settings


def test_redis_config_quotes_any_password_and_path() -> None:
    text = data_node_config(6390, Path("/var/edge data"), 'a"b\\c d\né')
    assert 'dir "/var/edge\\x20data"' in text
    assert 'requirepass "a\\x22b\\x5cc\\x20d\\x0a\\xc3\\xa9"' in text
    assert "appendonly yes" in text and "bind 127.0.0.1" in text


def test_banner_never_shows_a_redis_password() -> None:
    assert redacted("redis://:s3cret@10.0.0.1:6379/0") == "redis://:***@10.0.0.1:6379/0"
    assert redacted("rediss://edge:s3cret@redis.example:6380/2") == "rediss://edge:***@redis.example:6380/2"
    assert redacted("redis://10.0.0.1:6379/0") == "redis://10.0.0.1:6379/0"


def test_a_replica_follows_its_primary_and_every_node_can_become_one() -> None:
    text = data_node_config(6391, Path("/d"), "pw", primary=("127.0.0.1", 6390))
    assert "replicaof 127.0.0.1 6390" in text and 'masterauth "pw"' in text
    assert "replicaof" not in data_node_config(6390, Path("/d"), "pw")


def test_sentinels_are_password_protected_and_watch_the_primary() -> None:
    text = sentinel_config(26379, Path("/d"), "edge", ("127.0.0.1", 6390), "pw")
    assert 'requirepass "pw"' in text and 'sentinel sentinel-pass "pw"' in text
    assert 'sentinel monitor "edge" 127.0.0.1 6390 2' in text and 'sentinel auth-pass "edge" "pw"' in text


def test_sentinels_setting_makes_a_sentinel_url_with_the_password() -> None:
    s = Settings.from_env({"EDGE_REDIS_SENTINELS": "127.0.0.1:26379, 127.0.0.1:26380",
                           "EDGE_REDIS_PASSWORD": "p@ss:w/rd", "EDGE_REDIS_MASTER": "edge"})
    assert s.effective_redis_url == "redis-sentinel://:p%40ss%3Aw%2Frd@127.0.0.1:26379,127.0.0.1:26380/edge"
    assert parse(s.effective_redis_url) == SentinelLocator((("127.0.0.1", 26379), ("127.0.0.1", 26380)),
                                                           "edge", "p@ss:w/rd")
    assert parse("redis://:x@127.0.0.1:6390/0") is None
    # REDIS_URL, when given, wins (it may itself name sentinels).
    assert Settings.from_env({"REDIS_URL": "redis://h:1/0", "EDGE_REDIS_SENTINELS": "h:2"}).effective_redis_url \
        == "redis://h:1/0"


def test_banner_masks_the_password_of_a_sentinel_url() -> None:
    assert redacted("redis-sentinel://:s3cret@127.0.0.1:26379,127.0.0.1:26380/edge") \
        == "redis-sentinel://:***@127.0.0.1:26379,127.0.0.1:26380/edge"


def test_each_pool_member_is_its_own_rtpengine_set_and_process(tmp_path: Path) -> None:
    stack = Stack({"EDGE_DATA_DIR": str(tmp_path), "EDGE_RTPENGINE_NG": "127.0.0.1:2223=1,127.0.0.1:2233=2",
                   "EDGE_RTPENGINE_HTTP": "127.0.0.1:2225,127.0.0.1:2235"})
    (tmp_path / "run").mkdir()
    env = stack.kamailio_env()
    assert env["EDGE_KAMAILIO_RTPENGINE_SOCK"] == "0 == udp:127.0.0.1:2223"
    assert env["EDGE_KAMAILIO_RTPENGINE_SOCK1"] == "1 == udp:127.0.0.1:2233"
    assert "WITH_RTPENGINE_SET1" in stack.kamailio_argv() and "WITH_RTPENGINE_SET2" not in stack.kamailio_argv()
    assert stack.rtpengine_names() == ["rtpengine", "rtpengine2"]
    second = stack.rtpengine_argv(1)
    assert "--listen-ng=127.0.0.1:2233" in second and "--listen-http=127.0.0.1:2235" in second
    assert "--port-min=32500" in second and "--port-max=34999" in second


@pytest.mark.parametrize(("env", "mask_addr"), [({}, "127.0.0.1"), ({"EDGE_ADVERTISE_ADDR": "2001:db8::7"},
                                                                      "[2001:db8::7]")])
def test_topology_hiding_gets_a_key_derived_from_the_secret_and_a_uri_host(tmp_path: Path, env: dict[str, str],
                                                                           mask_addr: str) -> None:
    stack = Stack({"EDGE_DATA_DIR": str(tmp_path), "EDGE_AUTH_SECRET": "nonce-secret", **env})
    (tmp_path / "run").mkdir()
    kamailio = stack.kamailio_env()
    assert kamailio["EDGE_KAMAILIO_TOPOLOGY_ADDR"] == mask_addr
    key = kamailio["EDGE_KAMAILIO_TOPOLOGY_KEY"]
    assert len(key) == 64 and "nonce-secret" not in key
    other = Stack({"EDGE_DATA_DIR": str(tmp_path), "EDGE_AUTH_SECRET": "another"}).kamailio_env()
    assert other["EDGE_KAMAILIO_TOPOLOGY_KEY"] != key  # derived: nodes sharing a secret share the key


def test_each_kamailio_start_gets_its_own_nonce_secret(tmp_path: Path) -> None:
    """SIP nonces are good only on the Kamailio that issued them: never the shared secret,
    never the same twice (another node, or this one after a restart, refuses them)."""
    stack = Stack({"EDGE_DATA_DIR": str(tmp_path), "EDGE_AUTH_SECRET": "nonce-secret"})
    (tmp_path / "run").mkdir()
    first, second = (stack.kamailio_env()["EDGE_KAMAILIO_NONCE_SECRET"] for _ in range(2))
    assert len(first) == 64 and first != second and "nonce-secret" not in (first, second)


@pytest.mark.parametrize("sentinels", ["", "10.0.0.5:26379,127.0.0.1:26380"])
def test_own_sentinels_must_be_given_and_on_loopback(tmp_path: Path, sentinels: str) -> None:
    stack = Stack({"EDGE_DATA_DIR": str(tmp_path), "EDGE_REDIS_HA": "1", "EDGE_REDIS_SENTINELS": sentinels})
    with pytest.raises(StackError, match="EDGE_REDIS_SENTINELS"):
        stack.start()


def test_a_cluster_gets_sentinels_and_a_second_rtpengine_unless_the_environment_names_them() -> None:
    derived = highly_available(Settings.from_env({"EDGE_REDIS_PORT": "6390", "EDGE_RTPENGINE_NG": "127.0.0.1:2223",
                                                  "EDGE_RTPENGINE_HTTP": "127.0.0.1:2225"}))
    assert derived == {"EDGE_REDIS_HA": "1", "EDGE_REDIS_SENTINELS": "127.0.0.1:6392,127.0.0.1:6393,127.0.0.1:6394",
                       "EDGE_RTPENGINE_NG": "127.0.0.1:2223=1,127.0.0.1:2233=1",
                       "EDGE_RTPENGINE_HTTP": "127.0.0.1:2225,127.0.0.1:2235"}
    given = {"EDGE_REDIS_SENTINELS": "127.0.0.1:26379", "EDGE_RTPENGINE_NG": "127.0.0.1:2223,127.0.0.1:2224",
             "EDGE_RTPENGINE_HTTP": "127.0.0.1:2225,127.0.0.1:2226"}
    assert highly_available(Settings.from_env(given)) == {}
    assert highly_available(Settings.from_env({"REDIS_URL": "redis://10.0.0.1:6379/0"})).keys() == {
        "EDGE_RTPENGINE_NG", "EDGE_RTPENGINE_HTTP"}  # an external Redis stays as it is


def test_the_cluster_banner_names_the_sentinels_and_both_rtpengines_but_no_password(tmp_path: Path) -> None:
    cluster = Cluster({"EDGE_REDIS_PORT": "6390", "EDGE_REDIS_PASSWORD": "s3cret"}, tmp_path)
    text = banner(cluster)
    assert "sentinels 127.0.0.1:6392,127.0.0.1:6393,127.0.0.1:6394" in text
    assert "rtpengine ng 127.0.0.1:2223 " in text and "rtpengine ng 127.0.0.1:2233 " in text
    assert "s3cret" not in text
    assert cluster.node_environ(0, "redis-sentinel://x")["EDGE_RTPENGINE_OWN"] == "0"
