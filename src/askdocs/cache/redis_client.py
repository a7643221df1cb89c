"""A Redis connection for the caches: short timeouts, no retries, and every failure answered
as a miss, so a dead or slow Redis costs a request at most one short timeout."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from askdocs.cache.base import BackendHealth

T = TypeVar("T")

# Short enough that a request waiting on a dead Redis barely notices, long enough for a busy
# Redis on a LAN (a cache command takes well under 1 ms there).
SOCKET_TIMEOUT_S = 0.5


def connect(url: str, *, timeout: float = SOCKET_TIMEOUT_S) -> redis.Redis:
    """A client for ``url`` that fails fast instead of retrying (redis-py retries 10 times with
    backoff by default, seconds per command while Redis is down); it reconnects by itself."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=30,
    )


def as_bytes(value: bytes | str) -> bytes:
    """Replies are bytes (the client does not decode); the stubs also allow str."""
    return value if isinstance(value, bytes) else value.encode()


def as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def redact(url: str) -> str:
    """The URL without its password, for logs and `askdocs cache stats`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


class RedisStore:
    """The client plus its health: ``run(op, default)`` is how every command reaches Redis."""

    def __init__(self, url: str, prefix: str, *, retry_after: float = 1.0) -> None:
        self.url = url
        self.prefix = prefix
        self.client = connect(url)
        self.health = BackendHealth(f"Redis ({redact(url)})", retry_after=retry_after)

    def run(self, op: Callable[[redis.Redis], T], default: T) -> T:
        if not self.health.usable():
            return default
        try:
            result = op(self.client)
        except (redis.RedisError, OSError) as exc:
            self.health.failed(exc)
            return default
        self.health.succeeded()
        return result

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def flush_health(self, stats_key: str) -> None:
        """Errors counted while Redis was down join the shared counters once it is back."""
        pending = self.health.take_pending()
        if not pending:
            return

        def write(client: redis.Redis) -> bool:
            pipe = client.pipeline(transaction=False)
            for name, value in pending.items():
                pipe.hincrby(stats_key, f"health:{name}", value)
            pipe.execute()
            return True

        if not self.run(write, False):
            self.health.restore_pending(pending)

    def delete_prefix(self, start: str) -> int:
        """UNLINK every key that starts with ``start`` (SCAN, so Redis never blocks on KEYS)."""
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", start) + "*"

        def wipe(client: redis.Redis) -> int:
            removed = 0
            batch: list[bytes] = []
            for name in client.scan_iter(match=pattern, count=1000):
                batch.append(name)
                if len(batch) >= 500:
                    removed += int(client.unlink(*batch))
                    batch = []
            if batch:
                removed += int(client.unlink(*batch))
            return removed

        return self.run(wipe, 0)
