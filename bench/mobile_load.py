"""A mixed mobile workload under locust, stepped up until the API saturates; /healthz beside it.

    .venv/bin/python bench/mobile_load.py [--steps 25,50,100,200,300,400] [--step-seconds 20]
                                          [--max-users 48] [--max-seconds 15] [--processes 2]

Makes a throwaway PostgreSQL database (the test suite's rules: CARDIOALERT_TEST_POSTGRES_URL or
localhost, else a throwaway server), migrates it and seeds it: the 18 demo clinics, each with an
ECG room open 08:00-18:00 every day in 15-minute slots (capacity 50, so holds rarely race), and
--patients patients, each signed in with one analysed ECG study. Starts the API as production
runs it — --processes single-process uvicorn servers (httptools, uvloop) sharing the port with
SO_REUSEPORT, as replicas behind a balancer — and one worker process (`python -m services
worker`), over PostgreSQL and Redis, production settings. Then locust (bench/locust/mobile.py,
headless, one process, FastHttpUser) plays patients who each tap every 0.5-1.5 s:

  GET /v1/clinics (by distance) 6 · GET /v1/clinics/{id} 3 · GET /v1/clinics/{id}/slots (7 days) 4
  · POST /v1/bookings + POST /v1/bookings/{id}/cancel 1 · POST /v1/devices 1
  · GET /v1/studies + GET /v1/studies/{id} 2 · GET /v1/bookings 1 · POST /v1/studies (WFDB) 0.25

(relative weights). One locust run per step of users (--steps), each --step-seconds after all
users have started (statistics reset then); then two closed-loop runs with --max-users users and
no think time: the same mix, and GET /healthz alone, the trivial endpoint (the comparison). For
each run: throughput, error rate, p50/p95/p99 overall and per endpoint, and the CPU used by the
API processes, the worker, PostgreSQL, locust and the whole machine. The offered rate of a step
is what its users would send were every answer instant; saturation is the first step served at
less than 80 % of it (users then wait on the server instead of thinking, and the p95 climbs).

Everything shares this machine's cores — locust too — and other work on it shows in the machine
CPU column: compare within one run, as ratios. The database, its Redis keys and the blob
directory are removed at the end."""

import argparse
import base64
import csv
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.infra import create_database, drop_database, provide_services

RUN_ID = secrets.token_hex(4)
DATABASE = f"cardioalert_load_{RUN_ID}"
ADMIN_URL, REDIS_URL = provide_services()
WORK_DIR = Path(tempfile.mkdtemp(prefix=f"cardioalert-load-{RUN_ID}-"))
BENCH_ENV = {
    "CARDIOALERT_ENVIRONMENT": "production",
    "CARDIOALERT_DATABASE_URL": create_database(ADMIN_URL, DATABASE),
    "CARDIOALERT_REDIS_URL": REDIS_URL,
    "CARDIOALERT_REDIS_KEY_PREFIX": f"{DATABASE}:",
    "CARDIOALERT_SECRET_KEY": secrets.token_urlsafe(48),
    "CARDIOALERT_ACCESS_TOKEN_MINUTES": "60",
    "CARDIOALERT_BLOB_DIR": str(WORK_DIR / "blobs"),
    "CARDIOALERT_BLOB_KEYS": "load:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    "CARDIOALERT_SEED_DEMO_DATA": "false",
    "CARDIOALERT_LOG_LEVEL": "WARNING",
    "CARDIOALERT_JOB_WORKER_THREADS": "1",
}
os.environ.update(BENCH_ENV)

from load_seeding import seed_clinics_and_slots, seed_patients  # bench/, after the environment
from sqlmodel import Session, select

from booking.models import Slot, SlotStatus
from services.accounts.models import User
from services.db import get_engine, utcnow
from services.migrations import upgrade_to_head
from services.redis_client import get_redis
from tests.services.studies.support import RECORD, make_analysed_study

LOCUSTFILE = ROOT / "bench" / "locust" / "mobile.py"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
THINK_SECONDS = 1.0  # the mean of the users' 0.5-1.5 s between taps
# Requests per tap of the mix (bench/locust/mobile.py: weights 73, booking and results send two).
REQUESTS_PER_TAP = 85 / 73
UVICORN_REUSEPORT = """
import socket, sys, uvicorn
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
sock.bind(("127.0.0.1", int(sys.argv[1])))
config = uvicorn.Config("services.app:create_app", factory=True, access_log=False, log_level="warning")
uvicorn.Server(config).run(sockets=[sock])
"""


# Seeding


def seed(patients: int, days: int) -> dict[str, object]:
    engine = get_engine()
    clinic_ids = seed_clinics_and_slots(engine, days, slot_minutes=15, capacity=50)
    with Session(engine) as session:
        # Holds go to slots from day 8 on, so the 7-day searches see the same data all along.
        bookable = session.exec(
            select(Slot.id).where(
                Slot.starts_at >= utcnow() + timedelta(days=8), Slot.status == SlotStatus.open
            )
        ).all()
    seeded = seed_patients(engine, patients)
    studies = []
    with Session(engine, expire_on_commit=False) as session:
        for user_id, _ in seeded:
            patient = session.get(User, user_id)
            assert patient is not None
            studies.append(str(make_analysed_study(session, patient, None).id))
    return {
        "clinic_ids": [str(clinic_id) for clinic_id in clinic_ids],
        "slot_ids": [str(slot_id) for slot_id in bookable],
        "patients": [
            {"token": token, "study_id": study_id}
            for (_, token), study_id in zip(seeded, studies, strict=True)
        ],
        "record_dir": str(RECORD.parent),
    }


# Processes and CPU


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(values[:8])
    return (total - values[3] - values[4]) / CLOCK_TICKS, total / CLOCK_TICKS


def postgres_backends() -> list[int]:
    """PostgreSQL backends serving the bench database (their command line names it)."""
    marker = f" {DATABASE} ".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class Stack:
    def __init__(self, processes: int) -> None:
        self.port = free_port()
        self.log = WORK_DIR / "server.log"
        self.env = {**os.environ, **BENCH_ENV}
        self.api: list[subprocess.Popen[bytes]] = []
        self.worker: subprocess.Popen[bytes] | None = None
        self.count = processes

    def _spawn(self, arguments: list[str]) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as output:
            return subprocess.Popen(
                [sys.executable, *arguments], cwd=ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT
            )

    def start(self) -> None:
        self.api = [self._spawn(["-c", UVICORN_REUSEPORT, str(self.port)]) for _ in range(self.count)]
        self.worker = self._spawn(["-m", "services", "worker"])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if any(process.poll() is not None for process in [*self.api, self.worker]):
                raise SystemExit(f"a server process exited: {self.log.read_text()[-2000:]}")
            rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
            listening = sum(1 for row in rows if row[1].endswith(f":{self.port:04X}") and row[3] == "0A")
            if listening >= self.count:
                return
            time.sleep(0.3)
        raise SystemExit("the API did not start in 90 s")

    def pids(self) -> dict[str, list[int]]:
        assert self.worker is not None
        return {
            "api": [process.pid for process in self.api],
            "worker": [self.worker.pid],
        }

    def stop(self) -> None:
        for process in [*self.api, *([self.worker] if self.worker else [])]:
            process.send_signal(signal.SIGTERM)
        for process in [*self.api, *([self.worker] if self.worker else [])]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


# Locust runs


@dataclass
class Endpoint:
    name: str
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float


@dataclass
class Phase:
    label: str
    users: int
    seconds: float
    endpoints: list[Endpoint] = field(default_factory=list)
    total: Endpoint | None = None
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per second of wall time
    failures: list[tuple[str, str, int]] = field(default_factory=list)  # endpoint, error, count


def _number(text: str) -> float:
    return float(text) if text not in ("", "N/A") else float("nan")


def run_locust(stack: Stack, label: str, mode: str, users: int, seconds: int, data_file: Path) -> Phase:
    prefix = WORK_DIR / f"{label}".replace(" ", "_")
    command = [
        *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary"),
        *("--host", f"http://127.0.0.1:{stack.port}", "-u", str(users), "-r", str(max(users / 2, 1))),
        *("-t", f"{seconds + 2}s", "--reset-stats", "--csv", str(prefix), "--loglevel", "ERROR"),
        "--stop-timeout",
        "5",
    ]
    env = {**os.environ, "CARDIOALERT_LOAD_DATA": str(data_file), "CARDIOALERT_LOAD_MODE": mode}
    pids = stack.pids()
    before = {name: sum(process_cpu(pid) for pid in group) for name, group in pids.items()}
    backends_before = {pid: process_cpu(pid) for pid in postgres_backends()}
    busy_before, total_before = machine_cpu()
    started = time.monotonic()
    locust = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_locust, postgres = 0.0, dict(backends_before)
    while locust.poll() is None:
        time.sleep(0.5)
        peak_locust = max(peak_locust, process_cpu(locust.pid))
        for pid in postgres_backends():
            postgres[pid] = process_cpu(pid)
    wall = time.monotonic() - started
    busy_after, total_after = machine_cpu()
    stats = Path(f"{prefix}_stats.csv")
    if locust.returncode not in (0, 1) or not stats.exists():  # 1: some requests failed
        raise SystemExit(f"locust failed: {locust.stderr.read().decode()[-3000:] if locust.stderr else ''}")
    phase = Phase(label, users, seconds)
    phase.cpu = {name: (sum(process_cpu(pid) for pid in pids[name]) - before[name]) / wall for name in pids}
    phase.cpu["postgres"] = sum(postgres[pid] - backends_before.get(pid, 0.0) for pid in postgres) / wall
    phase.cpu["locust"] = peak_locust / wall
    phase.cpu["machine"] = (busy_after - busy_before) / wall
    phase.cpu["cores"] = (total_after - total_before) / wall
    with stats.open() as file:
        for row in csv.DictReader(file):
            endpoint = Endpoint(
                name=row["Name"] if row["Type"] else "all",
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                rps=_number(row["Requests/s"]),
                p50=_number(row["50%"]),
                p95=_number(row["95%"]),
                p99=_number(row["99%"]),
            )
            if row["Name"] == "Aggregated":
                phase.total = endpoint
            else:
                phase.endpoints.append(endpoint)
    failures = Path(f"{prefix}_failures.csv")
    if failures.exists():
        with failures.open() as file:
            phase.failures = [
                (row["Name"], row["Error"], int(row["Occurrences"])) for row in csv.DictReader(file)
            ]
    return phase


# Report


def error_rate(endpoint: Endpoint) -> str:
    return f"{100 * endpoint.failures / endpoint.requests:.2f} %" if endpoint.requests else "–"


def print_steps(steps: list[Phase]) -> Phase | None:
    columns = (
        "users | offered req/s | req/s | errors | p50 | p95 | p99 | CPU: API | worker | PG | locust | machine"
    )
    print(f"\n| {columns} |\n|{'---|' * 12}")
    saturated = None
    for phase in steps:
        total = phase.total
        assert total is not None
        offered = phase.users * REQUESTS_PER_TAP / THINK_SECONDS  # were every answer instant
        cpu = phase.cpu
        print(
            f"| {phase.users} | {offered:.0f} | {total.rps:.0f} | {error_rate(total)} | {total.p50:.0f} ms "
            f"| {total.p95:.0f} ms | {total.p99:.0f} ms | {cpu['api']:.2f} | {cpu['worker']:.2f} "
            f"| {cpu['postgres']:.2f} | {cpu['locust']:.2f} | {cpu['machine']:.2f} of {cpu['cores']:.0f} |"
        )
        if saturated is None and total.rps < 0.8 * offered:
            saturated = phase
    return saturated


def print_endpoints(phase: Phase) -> None:
    print(f"\n{phase.label}: {phase.users} users, {phase.seconds} s")
    print("| endpoint | requests | req/s | errors | p50 | p95 | p99 |\n|---|---|---|---|---|---|---|")
    for endpoint in sorted(phase.endpoints, key=lambda e: -e.requests):
        print(
            f"| {endpoint.name} | {endpoint.requests} | {endpoint.rps:.1f} | {error_rate(endpoint)} "
            f"| {endpoint.p50:.0f} ms | {endpoint.p95:.0f} ms | {endpoint.p99:.0f} ms |"
        )
    total = phase.total
    assert total is not None
    print(
        f"| **all** | {total.requests} | {total.rps:.1f} | {error_rate(total)} | {total.p50:.0f} ms "
        f"| {total.p95:.0f} ms | {total.p99:.0f} ms |"
    )


def machine_description() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {model}, {os.cpu_count()} CPUs"


def report(phases: list[Phase], mixed_max: Phase, healthz: Phase) -> None:
    saturated = print_steps(phases)
    below = [phase for phase in phases if saturated is None or phase.users < saturated.users]
    for phase in (below[-1] if below else phases[0], mixed_max):
        print_endpoints(phase)
    mix, trivial = mixed_max.total, healthz.total
    assert mix is not None and trivial is not None
    print(
        f"\nclosed loop, {mixed_max.users} users, no think time: mix {mix.rps:.0f} req/s "
        f"(p50 {mix.p50:.0f} ms, p99 {mix.p99:.0f} ms, API CPU {mixed_max.cpu['api']:.2f}, "
        f"machine {mixed_max.cpu['machine']:.2f}); "
        f"GET /healthz {trivial.rps:.0f} req/s (p50 {trivial.p50:.0f} ms, p99 {trivial.p99:.0f} ms, "
        f"locust CPU {healthz.cpu['locust']:.2f}); mix / healthz = {mix.rps / trivial.rps:.2f}"
    )
    served = {phase.users: phase.total.rps for phase in phases if phase.total}
    best = max(served, key=served.__getitem__)
    if saturated is not None:
        print(
            f"saturation: at {saturated.users} users the API served {served[saturated.users]:.0f} req/s of "
            f"~{saturated.users * REQUESTS_PER_TAP / THINK_SECONDS:.0f} offered; the most any step served: "
            f"{served[best]:.0f} req/s at {best} users"
        )
    else:
        print(f"no step saturated; the most served: {served[best]:.0f} req/s at {best} users")
    medians = [phase.total.p50 for phase in phases if phase.total]
    print(f"(median of the steps' p50: {statistics.median(medians):.0f} ms)")
    for phase in [*phases, mixed_max, healthz]:
        for name, error, count in phase.failures:
            print(f"failed in {phase.label}: {name}: {error} ×{count}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", default="25,50,100,200,300,400", help="users per step, comma-separated")
    parser.add_argument("--step-seconds", type=int, default=20)
    parser.add_argument("--max-users", type=int, default=48, help="users of the closed-loop runs")
    parser.add_argument("--max-seconds", type=int, default=15)
    parser.add_argument("--processes", type=int, default=2, help="uvicorn processes (SO_REUSEPORT)")
    parser.add_argument("--patients", type=int, default=500)
    args = parser.parse_args()
    steps = [int(users) for users in args.steps.split(",")]
    print(f"{machine_description()}, load average before: {os.getloadavg()[0]:.2f}")
    stack = None
    try:
        upgrade_to_head(BENCH_ENV["CARDIOALERT_DATABASE_URL"])
        started = time.monotonic()
        data = seed(max(args.patients, *steps, args.max_users), days=15)
        data_file = WORK_DIR / "load.json"
        data_file.write_text(json.dumps(data))
        print(
            f"seeded {len(data['clinic_ids'])} clinics, {len(data['slot_ids'])} bookable slots, "
            f"{len(data['patients'])} patients with a study each in {time.monotonic() - started:.0f} s"
        )
        stack = Stack(args.processes)
        stack.start()
        run_locust(stack, "warm-up", "mobile", min(steps), 8, data_file)
        phases = []
        for users in steps:
            phases.append(run_locust(stack, f"step {users}", "mobile", users, args.step_seconds, data_file))
            print(".", end="", flush=True)
        mixed_max = run_locust(stack, "mix max", "mobile-max", args.max_users, args.max_seconds, data_file)
        healthz = run_locust(stack, "healthz max", "healthz", args.max_users, args.max_seconds, data_file)
        report(phases, mixed_max, healthz)
    finally:
        if stack is not None:
            stack.stop()
            problems = [line for line in stack.log.read_text().splitlines() if "error" in line.lower()]
            if problems:
                print(f"server log, {len(problems)} error lines, the last ones:", *problems[-5:], sep="\n")
        get_engine().dispose()
        drop_database(ADMIN_URL, DATABASE)
        redis = get_redis()
        if redis is not None:
            keys = list(redis.scan_iter(match=f"{DATABASE}:*"))
            if keys:
                redis.delete(*keys)
        shutil.rmtree(WORK_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
