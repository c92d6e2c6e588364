"""What signing in costs: argon2id at the production settings, JWT signing and checking, and
the authenticated request path next to the trivial one, in one run.

    .venv/bin/python bench/auth_costs.py [--rounds N]

Runs on a throwaway SQLite database in a temporary directory (the embedded mode); prints
medians in milliseconds."""

import argparse
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def median_ms(function: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="cardioalert-bench-")
    os.environ.update(
        {
            "CARDIOALERT_DATABASE_URL": f"sqlite:///{workdir}/bench.sqlite3",
            "CARDIOALERT_SECRET_KEY": secrets.token_urlsafe(48),
            "CARDIOALERT_LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("CARDIOALERT_REDIS_URL", None)

    from fastapi.testclient import TestClient

    from services.app import create_app
    from services.migrations import upgrade_to_head
    from services.security import create_access_token, decode_access_token, hash_password, verify_password
    from services.settings import get_settings

    settings = get_settings()
    upgrade_to_head(settings.database_url)
    hashed = hash_password("correct horse battery")
    token, _ = create_access_token(uuid.uuid4(), "patient", None)

    password = "correct horse battery"
    hash_rounds = max(10, args.rounds // 10)
    figures = {
        "argon2id hash": median_ms(lambda: hash_password(password), hash_rounds),
        "argon2id verify": median_ms(lambda: verify_password(hashed, password), hash_rounds),
        "JWT sign": median_ms(lambda: create_access_token(uuid.uuid4(), "patient", None), args.rounds),
        "JWT verify": median_ms(lambda: decode_access_token(token), args.rounds),
    }
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cpus"
    print(f"machine: {machine}, Python {platform.python_version()}")
    print(f"argon2id time_cost={settings.argon2_time_cost} memory={settings.argon2_memory_kib} KiB")
    for name, value in figures.items():
        print(f"{name:<19}{value:8.3f} ms")

    with TestClient(create_app()) as client:
        tokens = client.post(
            "/v1/auth/register",
            json={"phone": "+998901234567", "password": "correct horse battery", "full_name": "Bench"},
        ).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        trivial = median_ms(lambda: client.get("/healthz"), args.rounds)
        authenticated = median_ms(lambda: client.get("/v1/me", headers=headers), args.rounds)
        login = median_ms(
            lambda: client.post(
                "/v1/auth/login", json={"login": "+998901234567", "password": "correct horse battery"}
            ),
            hash_rounds,
        )
    print(f"GET /healthz       {trivial:8.2f} ms   (in-process, trivial endpoint)")
    print(
        f"GET /v1/me         {authenticated:8.2f} ms   ({authenticated / trivial:.1f}x the trivial endpoint)"
    )
    print(f"POST /v1/auth/login{login:8.2f} ms   ({login / trivial:.1f}x; dominated by argon2id)")


if __name__ == "__main__":
    main()
