"""Password guessing is slowed down: per account and per address, shared through Redis."""

from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import Session

from services.redis_client import get_redis
from services.settings import get_settings
from services.throttle import FallbackCounterStore, LoginThrottle, MemoryCounterStore, RedisCounterStore
from tests.support import PASSWORD, make_user


def fail_login(client: TestClient, login: str, **headers: str):  # type: ignore[no-untyped-def]
    return client.post("/v1/auth/login", json={"login": login, "password": "wrong guess"}, headers=headers)


def test_account_is_locked_after_repeated_failures_even_with_the_right_password(
    client: TestClient, db: Session
) -> None:
    user = make_user(db, email="guess-me@example.uz")
    limit = get_settings().login_max_failures
    for _ in range(limit):
        assert fail_login(client, "guess-me@example.uz").status_code == 401

    locked = client.post(
        "/v1/auth/login",
        json={"login": "GUESS-ME@example.uz", "password": PASSWORD},
        headers={"Accept-Language": "ru"},
    )
    assert locked.status_code == 429
    assert locked.json()["code"] == "too_many_login_attempts"
    retry_after = int(locked.headers["retry-after"])
    assert 0 < retry_after <= get_settings().login_window_seconds
    minutes = -(-retry_after // 60)
    assert locked.json()["detail"].endswith(f"Повторите через {minutes} минут.")
    assert user.email is not None


def test_the_count_lives_in_redis_with_hashed_keys(client: TestClient, db: Session) -> None:
    make_user(db, phone="+998901112233")
    fail_login(client, "+998901112233")
    redis = get_redis()
    assert redis is not None
    keys = [key.decode() for key in redis.scan_iter(match=get_settings().redis_key_prefix + "*")]
    assert len(keys) == 2  # one for the account, one for the address
    assert all("998901112233" not in key for key in keys)
    assert all(redis.ttl(key) > 0 for key in keys)


def test_a_successful_login_clears_the_account_count(client: TestClient, db: Session) -> None:
    make_user(db, email="forgetful@example.uz")
    limit = get_settings().login_max_failures
    for _ in range(limit - 1):
        fail_login(client, "forgetful@example.uz")
    assert (
        client.post(
            "/v1/auth/login", json={"login": "forgetful@example.uz", "password": PASSWORD}
        ).status_code
        == 200
    )
    for _ in range(limit - 1):
        assert fail_login(client, "forgetful@example.uz").status_code == 401


def test_the_address_limit_stops_guessing_across_many_accounts(client: TestClient) -> None:
    limit = get_settings().login_ip_max_failures
    for number in range(limit):
        fail_login(client, f"victim{number}@example.uz")
    assert fail_login(client, "yet-another@example.uz").status_code == 429


def test_when_redis_is_down_counting_falls_back_to_memory() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    throttle = LoginThrottle(
        store=FallbackCounterStore(RedisCounterStore(dead), MemoryCounterStore()),
        max_failures=2,
        ip_max_failures=100,
        window_seconds=60,
    )
    assert throttle.retry_after("someone@example.uz", "10.0.0.1") == 0
    throttle.record_failure("someone@example.uz", "10.0.0.1")
    throttle.record_failure("someone@example.uz", "10.0.0.1")
    assert 0 < throttle.retry_after("someone@example.uz", "10.0.0.1") <= 60
    assert throttle.retry_after("someone-else@example.uz", "10.0.0.2") == 0
