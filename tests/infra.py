"""Real PostgreSQL and Redis for the test run.

In order: the servers named by CARDIOALERT_TEST_POSTGRES_URL / CARDIOALERT_TEST_REDIS_URL
(default: localhost) when they answer; else throwaway ones started here (initdb + pg_ctl in a
temporary directory, redis-server on a free port) when those programs are installed; else
`docker compose up -d postgres redis` where a Docker engine runs; else one clear line saying
what to install."""

import atexit
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from glob import glob
from pathlib import Path

import psycopg
import redis

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class ServiceUnavailableError(RuntimeError):
    """Neither a running server nor a way to start one was found."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _libpq_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(_libpq_url(url), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def _postgres_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root; drop to the 'postgres' account when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ServiceUnavailableError("running as root and no 'postgres' user exists to run initdb") from None
    return ["runuser", "-u", "postgres", "--"]


def start_throwaway_postgres() -> str:
    initdb, pg_ctl = _postgres_binary("initdb"), _postgres_binary("pg_ctl")
    if not initdb or not pg_ctl:
        raise ServiceUnavailableError("initdb/pg_ctl not installed")
    prefix = _as_postgres_user()
    data_dir = tempfile.mkdtemp(prefix="cardioalert-pg-")
    if prefix:
        shutil.chown(data_dir, "postgres", "postgres")
    port = _free_port()
    subprocess.run(
        [*prefix, initdb, "-D", data_dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {data_dir} -c fsync=off"
    subprocess.run(
        [*prefix, pg_ctl, "-D", data_dir, "-o", options, "-l", f"{data_dir}/log", "-w", "start"],
        check=True,
        capture_output=True,
    )

    def stop() -> None:
        subprocess.run(
            [*prefix, pg_ctl, "-D", data_dir, "-m", "immediate", "stop"], check=False, capture_output=True
        )
        shutil.rmtree(data_dir, ignore_errors=True)

    atexit.register(stop)
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"


def start_throwaway_redis() -> str:
    server = shutil.which("redis-server")
    if not server:
        raise ServiceUnavailableError("redis-server not installed")
    port = _free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(process.terminate)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(50):
        if redis_answers(url):
            return url
        time.sleep(0.1)
    raise ServiceUnavailableError("redis-server did not start")


def _docker_engine_runs() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], check=False, capture_output=True).returncode == 0


def _compose_command() -> list[str]:
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return ["docker", "compose"] if plugin.returncode == 0 else ["docker-compose"]


def start_with_docker_compose() -> tuple[str, str]:
    subprocess.run([*_compose_command(), "up", "-d", "postgres", "redis"], cwd=PROJECT_ROOT, check=True)
    postgres_url = "postgresql+psycopg://cardioalert:cardioalert@127.0.0.1:5432/postgres"
    for _ in range(60):
        if postgres_answers(postgres_url) and redis_answers(DEFAULT_REDIS_URL):
            return postgres_url, DEFAULT_REDIS_URL
        time.sleep(1)
    raise ServiceUnavailableError("docker compose services did not become healthy")


def provide_services() -> tuple[str, str]:
    """(PostgreSQL admin URL, Redis URL) of servers that answer now."""
    postgres_url = os.environ.get("CARDIOALERT_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    redis_url = os.environ.get("CARDIOALERT_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    postgres_ok, redis_ok = postgres_answers(postgres_url), redis_answers(redis_url)
    if postgres_ok and redis_ok:
        return postgres_url, redis_url
    try:
        if not postgres_ok:
            postgres_url = start_throwaway_postgres()
        if not redis_ok:
            redis_url = start_throwaway_redis()
        return postgres_url, redis_url
    except (ServiceUnavailableError, subprocess.CalledProcessError):
        if _docker_engine_runs():
            return start_with_docker_compose()
    raise ServiceUnavailableError(
        "The tests need PostgreSQL and Redis: install them (Debian: apt install postgresql redis-server), "
        "or run Docker, or set CARDIOALERT_TEST_POSTGRES_URL / CARDIOALERT_TEST_REDIS_URL to running servers."
    )


def create_database(admin_url: str, name: str) -> str:
    with psycopg.connect(_libpq_url(admin_url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(_libpq_url(admin_url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
