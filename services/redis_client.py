"""The one Redis connection, when Redis is configured (production and tests). The embedded
default runs without Redis; callers then use their in-memory fallback."""

from functools import lru_cache

from redis import Redis

from services.settings import get_settings


@lru_cache
def get_redis() -> Redis | None:
    settings = get_settings()
    if not settings.redis_url:
        return None
    return Redis.from_url(
        settings.redis_url, socket_connect_timeout=1.0, socket_timeout=1.0, health_check_interval=30
    )


def redis_key(*parts: str) -> str:
    return get_settings().redis_key_prefix + ":".join(parts)
