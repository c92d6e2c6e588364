"""Login throttling against password guessing (a fixed window of failed attempts per account
and per client address) and plain rate limits for costly requests. Redis-backed so every api
replica shares the count; in memory when Redis is not configured (the embedded default) or not
reachable."""

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from redis import Redis
from redis.exceptions import RedisError

from services.redis_client import get_redis, redis_key
from services.settings import get_settings

logger = logging.getLogger("cardioalert.throttle")


class CounterStore(Protocol):
    def count(self, key: str) -> tuple[int, int]:
        """(failures in the current window, seconds until the window ends)."""
        ...

    def increment(self, key: str, window_seconds: int) -> None: ...

    def clear(self, key: str) -> None: ...


class MemoryCounterStore:
    def __init__(self) -> None:
        self._counters: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def count(self, key: str) -> tuple[int, int]:
        with self._lock:
            failures, expires_at = self._counters.get(key, (0, 0.0))
            remaining = expires_at - time.monotonic()
            if remaining <= 0:
                self._counters.pop(key, None)
                return 0, 0
            return failures, int(remaining) + 1

    def increment(self, key: str, window_seconds: int) -> None:
        with self._lock:
            now = time.monotonic()
            failures, expires_at = self._counters.get(key, (0, 0.0))
            if expires_at <= now:
                failures, expires_at = 0, now + window_seconds
            self._counters[key] = (failures + 1, expires_at)

    def clear(self, key: str) -> None:
        with self._lock:
            self._counters.pop(key, None)


class RedisCounterStore:
    def __init__(self, client: Redis) -> None:
        self.client = client

    def count(self, key: str) -> tuple[int, int]:
        pipeline = self.client.pipeline()
        pipeline.get(key)
        pipeline.ttl(key)
        value, ttl = pipeline.execute()
        return int(value or 0), max(int(ttl), 0)

    def increment(self, key: str, window_seconds: int) -> None:
        pipeline = self.client.pipeline()
        pipeline.incr(key)
        pipeline.expire(key, window_seconds, nx=True)
        pipeline.execute()

    def clear(self, key: str) -> None:
        self.client.delete(key)


_memory_store = MemoryCounterStore()


@dataclass(frozen=True)
class LoginThrottle:
    """Counts failed sign-ins; `retry_after` says how long a caller must wait, 0 when free."""

    store: CounterStore
    max_failures: int
    ip_max_failures: int
    window_seconds: int

    @staticmethod
    def _key(kind: str, value: str) -> str:
        # Identifiers are hashed: e-mails and phone numbers never reach Redis in clear.
        return redis_key("login-failures", kind, hashlib.sha256(value.encode()).hexdigest()[:32])

    def retry_after(self, login: str, client_ip: str) -> int:
        waits = []
        for kind, value, limit in (
            ("login", login, self.max_failures),
            ("ip", client_ip, self.ip_max_failures),
        ):
            failures, remaining = self.store.count(self._key(kind, value))
            if failures >= limit:
                waits.append(max(remaining, 1))
        return max(waits, default=0)

    def record_failure(self, login: str, client_ip: str) -> None:
        self.store.increment(self._key("login", login), self.window_seconds)
        self.store.increment(self._key("ip", client_ip), self.window_seconds)

    def record_success(self, login: str) -> None:
        self.store.clear(self._key("login", login))


class FallbackCounterStore:
    """Redis when it answers; memory (per process) while it does not, so sign-in keeps working
    and guessing stays limited during a Redis outage."""

    def __init__(self, primary: CounterStore, fallback: CounterStore) -> None:
        self.primary = primary
        self.fallback = fallback

    def _call(self, method: str, *args: object) -> object:
        try:
            return getattr(self.primary, method)(*args)
        except RedisError:
            logger.warning("redis unavailable, login throttling falls back to memory")
            return getattr(self.fallback, method)(*args)

    def count(self, key: str) -> tuple[int, int]:
        return self._call("count", key)  # type: ignore[return-value]

    def increment(self, key: str, window_seconds: int) -> None:
        self._call("increment", key, window_seconds)

    def clear(self, key: str) -> None:
        self._call("clear", key)


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` requests per fixed window for one caller (a client address, an account)
    of one kind of request: for requests that cost much (argon2 at registration) or build up
    (new accounts)."""

    store: CounterStore
    name: str
    limit: int
    window_seconds: int

    def hit(self, caller: str) -> int:
        """Count one request of `caller`: 0 when it may go on, else the seconds to wait."""
        key = redis_key("rate", self.name, hashlib.sha256(caller.encode()).hexdigest()[:32])
        used, remaining = self.store.count(key)
        if used >= self.limit:
            return max(remaining, 1)
        self.store.increment(key, self.window_seconds)
        return 0


def _counter_store() -> CounterStore:
    client = get_redis()
    if client is None:
        return _memory_store
    return FallbackCounterStore(RedisCounterStore(client), _memory_store)


def get_registration_limit() -> RateLimit:
    """New accounts per client address and hour."""
    return RateLimit(_counter_store(), "register", get_settings().registrations_per_address_per_hour, 3600)


def get_login_throttle() -> LoginThrottle:
    settings = get_settings()
    store = _counter_store()
    return LoginThrottle(
        store=store,
        max_failures=settings.login_max_failures,
        ip_max_failures=settings.login_ip_max_failures,
        window_seconds=settings.login_window_seconds,
    )
