"""The whole API fuzzed against its committed contract, over HTTP, as every role.

    .venv/bin/python bench/api_fuzz.py [--examples 15] [--refused-examples 2] [--seed 20261126]

Makes a throwaway PostgreSQL database (the test suite's rules: CARDIOALERT_TEST_POSTGRES_URL or
localhost, else a throwaway server) and migrates it, builds the fuzz world of
tests/services/fuzz.py in it (a clinic with slots, a booking, an analysed study, a device, a
notification, a webhook endpoint; a patient, clinic staff, a clinician, a hospital system and an
admin, each signed in), starts the API with uvicorn over it and Redis in production settings,
and sends schemathesis' generated requests (valid and invalid) for every operation of
ios_contract/openapi.json: --examples per role the operation's policy lets in, --refused-examples
per role it keeps out (anonymous included). Checks: no 5xx, status code, content type, headers
and body as documented. Prints the cases per role and per operation, the status codes seen, and
every failure; exits 1 when there is one. The database, its Redis keys and the blob directory
are removed at the end. The bounded form that runs in CI is tests/services/test_api_fuzz.py."""

import argparse
import base64
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.infra import api_answers, create_database, drop_database, provide_services

RUN_ID = secrets.token_hex(4)
DATABASE = f"cardioalert_fuzz_{RUN_ID}"
ADMIN_URL, REDIS_URL = provide_services()
BLOB_DIR = tempfile.mkdtemp(prefix=f"cardioalert-fuzz-blobs-{RUN_ID}-")
# The bench builds its world with the app's own code and the server reads it: same settings.
BENCH_ENV = {
    "CARDIOALERT_ENVIRONMENT": "production",
    "CARDIOALERT_DATABASE_URL": create_database(ADMIN_URL, DATABASE),
    "CARDIOALERT_REDIS_URL": REDIS_URL,
    "CARDIOALERT_REDIS_KEY_PREFIX": f"{DATABASE}:",
    "CARDIOALERT_SECRET_KEY": secrets.token_urlsafe(48),
    "CARDIOALERT_BLOB_DIR": BLOB_DIR,
    "CARDIOALERT_BLOB_KEYS": "fuzz:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    "CARDIOALERT_SEED_DEMO_DATA": "false",
    "CARDIOALERT_LOG_LEVEL": "WARNING",
}
os.environ.update(BENCH_ENV)

import requests
from sqlmodel import Session

from services.db import get_engine
from services.migrations import upgrade_to_head
from services.redis_client import get_redis
from tests.services.fuzz import (
    ROLES,
    OperationRun,
    fuzz_operation,
    load_contract,
    make_fuzz_world,
    operations,
    policy_roles,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_api(port: int, log: Path) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "services.app:create_app", "--factory", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **BENCH_ENV},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    if api_answers(f"http://127.0.0.1:{port}"):
        return server
    server.terminate()
    raise SystemExit(f"the API did not start; see {log}")


def print_tables(runs: list[OperationRun], seconds: float) -> None:
    by_role: dict[str, Counter[str]] = defaultdict(Counter)
    by_operation: dict[str, Counter[str]] = defaultdict(Counter)
    for run in runs:
        for status, count in run.statuses.items():
            klass = f"{status // 100}xx"
            for table in (by_role[run.role], by_operation[run.operation]):
                table[klass] += count
                table["cases"] += count
        by_role[run.role]["failures"] += len(run.failures)
        by_operation[run.operation]["failures"] += len(run.failures)
    total = sum(run.cases for run in runs)
    print(
        f"\n{total} cases, {len(by_operation)} operations, {seconds:.0f} s ({total / seconds:.0f} cases/s)\n"
    )
    columns = ("cases", "2xx", "3xx", "4xx", "5xx", "failures")
    print(f"| role | {' | '.join(columns)} |\n|---|{'---|' * len(columns)}")
    for role in ROLES:
        print(f"| {role} | {' | '.join(str(by_role[role][c]) for c in columns)} |")
    print(f"\n| operation | {' | '.join(columns)} | statuses |\n|---|{'---|' * (len(columns) + 1)}")
    for operation in sorted(by_operation):
        statuses = Counter()
        for run in runs:
            if run.operation == operation:
                statuses.update(run.statuses)
        seen = " ".join(f"{status}×{count}" for status, count in sorted(statuses.items()))
        row = " | ".join(str(by_operation[operation][c]) for c in columns)
        print(f"| {operation} | {row} | {seen} |")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=15, help="cases per operation and allowed role")
    parser.add_argument(
        "--refused-examples", type=int, default=2, help="cases per operation and refused role"
    )
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu}, {os.cpu_count()} CPUs, "
        f"seed {args.seed}"
    )
    log = Path(tempfile.gettempdir()) / f"{DATABASE}-api.log"
    server = None
    try:
        upgrade_to_head(BENCH_ENV["CARDIOALERT_DATABASE_URL"])
        contract = load_contract()
        port = free_port()
        server = start_api(port, log)
        base_url = f"http://127.0.0.1:{port}"
        runs: list[OperationRun] = []
        started = time.perf_counter()
        with requests.Session() as http:
            transport = {"base_url": base_url, "session": http, "timeout": 30}
            for operation in operations(contract):
                # A fresh world per operation: one operation's deletions do not starve the next.
                with Session(get_engine(), expire_on_commit=False) as db:
                    world = make_fuzz_world(db)
                allowed = policy_roles(operation)
                for role in ROLES:
                    examples = args.examples if role in allowed else args.refused_examples
                    run = fuzz_operation(
                        operation, role, world, transport, max_examples=examples, seed=args.seed
                    )
                    runs.append(run)
                print(".", end="", flush=True)
        print_tables(runs, time.perf_counter() - started)
        failures = [failure for run in runs for failure in run.failures]
        print(f"\n{len(failures)} failures")
        for failure in failures:
            print(f"\n[{failure.role}] {failure.operation} → {failure.status}\n{failure.message}")
        return 1 if failures else 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        get_engine().dispose()
        drop_database(ADMIN_URL, DATABASE)
        redis = get_redis()
        if redis is not None:
            keys = list(redis.scan_iter(match=f"{DATABASE}:*"))
            if keys:
                redis.delete(*keys)
        shutil.rmtree(BLOB_DIR, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
