"""A carrier's call reads its DID's route once per version of the inbound data: one GET while
nothing changed, the DID, org and service again once a write moved the version."""

from __future__ import annotations

from typing import Any, cast

from kemi_app.provisioning.did import Did
from kemi_app.provisioning.org import Org
from kemi_app.provisioning.service import Service
from kemi_app.state import keys
from kemi_app.state.codec import encode
from kemi_app.state.lookups import Lookups

NUMBER = "+551140000800"


class _Redis:
    """The reads inbound_route makes, counted."""

    connection_pool = None

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.reads: list[str] = []

    def get(self, key: str) -> Any:
        self.reads.append(key)
        return self.data.get(key)

    def hgetall(self, key: str) -> dict[str, str]:
        self.reads.append(key)
        return dict(self.data.get(key, {}))

    def pipeline(self, transaction: bool = True) -> _Pipeline:
        return _Pipeline(self)


class _Pipeline:
    def __init__(self, r: _Redis) -> None:
        self.r, self.queued = r, cast(list[tuple[str, str]], [])

    def __enter__(self) -> _Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def get(self, key: str) -> None:
        self.queued.append(("get", key))

    def hgetall(self, key: str) -> None:
        self.queued.append(("hgetall", key))

    def execute(self) -> list[Any]:
        return [getattr(self.r, command)(key) for command, key in self.queued]


def _provisioned(ivr: str = "") -> _Redis:
    r = _Redis()
    r.data[keys.did(NUMBER)] = encode(Did(NUMBER, "cc", "800"))
    r.data[keys.org("cc")] = encode(Org("cc", "cc.test", "Contact centre", ivr))
    r.data[keys.service("cc", "800")] = encode(Service("800", "queue", "Sales", members=["3001"]))
    return r


def _lookups(r: _Redis) -> Lookups:
    return Lookups(cast(Any, r), cast(Any, None))


def test_a_dids_route_is_read_once_while_the_version_holds() -> None:
    r = _provisioned()
    r.data[keys.INBOUND_VERSION] = "v1"
    lookups = _lookups(r)
    first = lookups.inbound_route(NUMBER)
    assert first is not None and first.service is not None and first.service.ext == "800"
    r.reads.clear()
    assert lookups.inbound_route(NUMBER) == first
    assert r.reads == [keys.INBOUND_VERSION]


def test_a_write_that_moved_the_version_is_seen_by_the_next_call() -> None:
    r = _provisioned()
    r.data[keys.INBOUND_VERSION] = "v1"
    lookups = _lookups(r)
    assert lookups.inbound_route(NUMBER).org.ivr_uri == ""  # type: ignore[union-attr]
    r.data.update(_provisioned(ivr="sip:ivr@127.0.0.1").data)
    r.data[keys.INBOUND_VERSION] = "v2"
    assert lookups.inbound_route(NUMBER).org.ivr_uri == "sip:ivr@127.0.0.1"  # type: ignore[union-attr]


def test_an_unknown_did_is_remembered_for_its_version_too() -> None:
    r = _provisioned()
    r.data[keys.INBOUND_VERSION] = "v1"
    lookups = _lookups(r)
    assert lookups.inbound_route("+551140009999") is None
    r.reads.clear()
    assert lookups.inbound_route("+551140009999") is None
    assert r.reads == [keys.INBOUND_VERSION]
    r.data[keys.did("+551140009999")] = encode(Did("+551140009999", "cc", "800"))
    r.data[keys.INBOUND_VERSION] = "v2"
    assert lookups.inbound_route("+551140009999") is not None


def test_without_a_version_nothing_is_cached() -> None:
    r = _provisioned()
    lookups = _lookups(r)
    assert lookups.inbound_route(NUMBER) is not None
    del r.data[keys.did(NUMBER)]
    assert lookups.inbound_route(NUMBER) is None
