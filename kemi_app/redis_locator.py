"""Where the edge's Redis is: one URL for a single instance or for a Sentinel-watched primary.

`redis://[:password@]host:port/db` is a single instance (redis-py's own URL).
`redis-sentinel://[:password@]host:port[,host:port...]/service` names the sentinels and the
service they watch; the password opens the sentinels and the data nodes alike. A client made
from it asks a sentinel for the primary on every new connection, so after a failover the next
connection reaches the promoted replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import redis
from redis.connection import Connection
from redis.sentinel import Sentinel, SentinelConnectionPool

from kemi_app.redis_wire import LeanConnection, LeanPool, LeanRedis, LeanSentinelConnection, LeanSentinelPool

SCHEME = "redis-sentinel"


class LocatorError(ValueError):
    pass


@dataclass(frozen=True)
class SentinelLocator:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    password: str = ""

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
        return f"{SCHEME}://{auth}{hosts}/{quote(self.service, safe='')}"


def address(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit():
        raise LocatorError(f"not host:port: {text!r}")
    return host, int(port)


def parse(url: str) -> SentinelLocator | None:
    """The sentinel locator a URL names, or None for a plain redis:// URL."""
    prefix = SCHEME + "://"
    if not url.startswith(prefix):
        return None
    rest = url[len(prefix):]
    auth, _, rest = rest.rpartition("@")
    hosts, _, service = rest.partition("/")
    password = unquote(auth.partition(":")[2]) if auth else ""
    sentinels = tuple(address(h) for h in hosts.split(",") if h.strip())
    if not sentinels or not service:
        raise LocatorError(f"{SCHEME} URL needs sentinels and a service name")
    return SentinelLocator(sentinels, unquote(service.strip("/")), password)


def client(url: str, timeout: float, connection: type[Connection] | None = None, **options: Any) -> redis.Redis:
    """A client of the Redis `url` names, with `connection` (a class made by
    connection_class_for) as its connection class when given."""
    where = parse(url)
    timeouts: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    extra = {"connection_class": connection or base_connection(url)}
    if where is None:
        return LeanRedis(connection_pool=LeanPool.from_url(url, **timeouts, **options, **extra))
    sentinel = Sentinel(list(where.sentinels), sentinel_kwargs={"password": where.password or None, **timeouts})
    return sentinel.master_for(where.service, LeanRedis, LeanSentinelPool, password=where.password or None,
                               **timeouts, **options, **extra)


def base_connection(url: str) -> type[Connection]:
    """The redis-py connection class a client of `url` must build on."""
    return LeanSentinelConnection if parse(url) is not None else LeanConnection


def behind_sentinel(client_: redis.Redis) -> bool:
    return isinstance(client_.connection_pool, SentinelConnectionPool)
