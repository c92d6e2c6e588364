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

import httpx
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


def api_answers(base: str, tries: int = 300, pause: float = 0.1) -> bool:
    """Whether the API at `base` (a freshly started process) answers GET /healthz with 200 within
    `tries` tries, `pause` seconds apart while it does not listen yet."""
    for _ in range(tries):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            time.sleep(pause)
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


class ThrowawayPostgres:
    """A PostgreSQL server of our own in a temporary directory (initdb + pg_ctl), on a free port:
    for the run when no server answers, and for the drills that stop and restart one."""

    def __init__(self) -> None:
        initdb, pg_ctl = _postgres_binary("initdb"), _postgres_binary("pg_ctl")
        if not initdb or not pg_ctl:
            raise ServiceUnavailableError("initdb/pg_ctl not installed")
        self.pg_ctl = pg_ctl
        self.prefix = _as_postgres_user()
        self.data_dir = tempfile.mkdtemp(prefix="cardioalert-pg-")
        if self.prefix:
            shutil.chown(self.data_dir, "postgres", "postgres")
        self.port = _free_port()
        subprocess.run(
            [
                *self.prefix,
                initdb,
                "-D",
                self.data_dir,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.start()
        atexit.register(self.remove)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} -c fsync=off"
        subprocess.run(
            [
                *self.prefix,
                self.pg_ctl,
                "-D",
                self.data_dir,
                "-o",
                options,
                "-l",
                f"{self.data_dir}/log",
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "fast") -> None:
        """'fast' ends the sessions and shuts down cleanly; 'immediate' is a crash (recovery at start)."""
        subprocess.run(
            [*self.prefix, self.pg_ctl, "-D", self.data_dir, "-m", mode, "-w", "stop"],
            check=False,
            capture_output=True,
        )

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)


def start_throwaway_postgres() -> str:
    return ThrowawayPostgres().url


class ThrowawayRedis:
    """A redis-server of our own on a free port, keeping nothing on disk; `stop` and `start`
    take it down and bring it back on the same port."""

    def __init__(self) -> None:
        self.server = shutil.which("redis-server")
        if not self.server:
            raise ServiceUnavailableError("redis-server not installed")
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()
        atexit.register(self.stop)

    def start(self) -> None:
        arguments = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [str(self.server), *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(50):
            if redis_answers(self.url):
                return
            time.sleep(0.1)
        raise ServiceUnavailableError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def start_throwaway_redis() -> str:
    return ThrowawayRedis().url


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
