"""Clinics, slots and booking under load: a real uvicorn server over local PostgreSQL, driven by wrk.

    .venv/bin/python bench/booking_load.py [--runs 2] [--duration 15] [--server uvicorn|nodelay|reuseport]

Seeds a fresh database (the demo clinics, one ECG room per clinic open 08:00-18:00 every day in
15-minute slots of capacity 2, and --patients patients with a session and an access token),
starts the API on it (by default the Dockerfile's `uvicorn services.app:create_app --factory
--workers 2`; see SERVER_MODES) and measures with wrk (bench/wrk/booking_load.lua), each run in
this order:

  healthz   GET /healthz, the trivial endpoint (the baseline)
  clinics   GET /v1/clinics?lat=..&lon=..&limit=20, sorted by distance, from varying places
  slots     GET /v1/clinics/{id}/slots?service=ecg&days=7, rotating over the clinics
  book      POST /v1/bookings (hold) as rotating patients with a fresh Idempotency-Key each;
            every slot is asked for by --requests-per-slot different patients at nearly the same
            moment (one more than its capacity by default), so every slot is a race. 201 and 409
            (slot_full) are the valid answers; holds/s counts the 201s only.

Each scenario has a short unmeasured warm-up, then two measured phases: "max", a closed loop
over --connections connections (the throughput; its latencies are those of a saturated
machine), and "paced" (unless --no-paced), --paced-connections connections that wait between
requests so that about the target rate is sent (500/s; booking: the requests that make 200
holds/s), which gives the latency at the target rate. wrk is not wrk2: pacing is approximate,
the rate actually sent is printed.

Booking uses open slots from day 8 on, outside the 7-day search window, so the searches of a
later run see the same data. After the last run the database is checked: no slot over capacity,
every slot's booked_count equal to its active bookings, no patient with two overlapping active
bookings, and one booking row per 201. wrk, the server and PostgreSQL share this machine's
cores: the CPU each used per request is printed beside the figures, with the share of the
busiest server process.

Needs wrk (Debian: apt-get install -y wrk) and PostgreSQL (the test suite's rules:
CARDIOALERT_TEST_POSTGRES_URL or localhost, else a throwaway server). --profile DIR also records
each server process with py-spy (--gil) during the first run's max phases (collapsed stacks,
DIR/<scenario>-<pid>.txt); sampling costs CPU, so figures of such a run are not for comparison."""

import argparse
import http.client
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The script signs the patients' tokens and the server checks them: both need the same key.
BENCH_ENV = {
    "CARDIOALERT_SECRET_KEY": secrets.token_urlsafe(48),
    "CARDIOALERT_ACCESS_TOKEN_MINUTES": "60",
    # Every patient holds several places over the runs; holds must outlive the bench.
    "CARDIOALERT_BOOKING_MAX_ACTIVE_PER_PATIENT": "1000",
    "CARDIOALERT_BOOKING_HOLD_MINUTES": "120",
    "CARDIOALERT_LOG_LEVEL": "WARNING",
}
os.environ.update(BENCH_ENV)
os.environ.pop("CARDIOALERT_REDIS_URL", None)

from load_seeding import seed_clinics_and_slots, seed_patients  # bench/, after the environment
from sqlalchemy import Engine, text
from sqlmodel import select

from booking.models import Slot, SlotStatus
from services.db import make_engine, utcnow
from services.migrations import upgrade_to_head
from tests.infra import create_database, drop_database, provide_services

LUA = ROOT / "bench" / "wrk" / "booking_load.lua"
SCENARIOS = ("healthz", "clinics", "slots", "book")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SLOT_MINUTES, CAPACITY = 15, 2
TARGETS = {"clinics": (500, 50.0), "slots": (500, 50.0)}
BOOKINGS_PER_SECOND_TARGET = 200
# How the API is started (--server):
#   uvicorn    the Dockerfile's command: `uvicorn ... --workers N`. Its supervisor binds the listening
#              socket itself with proto 0, so asyncio does not set TCP_NODELAY on accepted
#              connections (uvicorn issue #3149): every keep-alive response after the first waits
#              ~40 ms for the client's delayed ACK. The workers also share one listening socket, and
#              asyncio accepts every pending connection at once, so one worker may take most of
#              wrk's (long-lived) connections.
#   nodelay    the same, with TCP_NODELAY set on the listener (Linux copies it to accepted sockets).
#   reuseport  N single-process uvicorn servers, each with its own SO_REUSEPORT listener, so the
#              kernel spreads connections over them (like N replicas behind a balancer).
SERVER_MODES = ("uvicorn", "nodelay", "reuseport")
UVICORN_NODELAY = """
import socket, sys, uvicorn, uvicorn.config
bind_socket = uvicorn.config.Config.bind_socket
def bind_socket_nodelay(self):
    sock = bind_socket(self)
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock
uvicorn.config.Config.bind_socket = bind_socket_nodelay
sys.argv = ["uvicorn", *sys.argv[1:]]
uvicorn.main()
"""
UVICORN_REUSEPORT = """
import socket, sys, uvicorn
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
sock.bind(("127.0.0.1", int(sys.argv[1])))
config = uvicorn.Config("services.app:create_app", factory=True, access_log=False)
uvicorn.Server(config).run(sockets=[sock])
"""


@dataclass
class Seeded:
    clinic_ids: list[uuid.UUID]
    tokens: list[str]  # one per patient
    bookable: list[tuple[uuid.UUID, datetime]]  # (slot id, starts_at) from day 8 on, by time


# Seeding


def seed(engine: Engine, patients: int, booking_days: int) -> Seeded:
    clinic_ids = seed_clinics_and_slots(engine, 8 + booking_days, SLOT_MINUTES, CAPACITY)
    tokens = [token for _, token in seed_patients(engine, patients)]
    first_bookable = utcnow() + timedelta(days=8)
    with engine.connect() as connection:
        rows = connection.execute(
            select(Slot.id, Slot.starts_at)
            .where(Slot.starts_at >= first_bookable, Slot.status == SlotStatus.open)  # not closed days
            .order_by(Slot.starts_at, Slot.clinic_id)
        ).all()
    return Seeded(clinic_ids, tokens, [(row[0], row[1]) for row in rows])


def booking_plan(
    slots: list[tuple[uuid.UUID, datetime]], tokens: list[str], per_slot: int, taken: dict[int, set[datetime]]
) -> list[str]:
    """Lines "token slot_id": each slot `per_slot` times in a row, by different patients, none of
    whom is sent to two slots at the same time (so a 409 can only mean the slot is full)."""
    lines: list[str] = []
    patient = len(taken) % len(tokens)
    for slot_id, starts_at in slots:
        for _ in range(per_slot):
            for _ in range(len(tokens)):
                patient = (patient + 1) % len(tokens)
                if starts_at not in taken.setdefault(patient, set()):
                    break
            taken[patient].add(starts_at)
            lines.append(f"{tokens[patient]} {slot_id}")
    return lines


# The server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_status(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def listeners(port: int) -> int:
    """How many sockets listen on this TCP port (one per server with SO_REUSEPORT)."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A")


class ApiServer:
    """The API under test, started as --server says; `workers` are the processes serving requests."""

    def __init__(self, mode: str, url: str, port: int, workers: int, log: Path) -> None:
        self.mode, self.port, self.count, self.log = mode, port, workers, log
        self.env = {**os.environ, **BENCH_ENV, "CARDIOALERT_DATABASE_URL": url}
        self.processes: list[subprocess.Popen[bytes]] = []

    def _spawn(self, arguments: list[str]) -> None:
        with self.log.open("ab") as output:
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, *arguments],
                    cwd=ROOT,
                    env=self.env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )

    def start(self) -> None:
        if self.mode == "reuseport":
            for _ in range(self.count):
                self._spawn(["-c", UVICORN_REUSEPORT, str(self.port)])
        else:
            self._spawn(
                [
                    *(["-c", UVICORN_NODELAY] if self.mode == "nodelay" else ["-m", "uvicorn"]),
                    *(["services.app:create_app", "--factory", "--host", "127.0.0.1", "--no-access-log"]),
                    *("--port", str(self.port), "--workers", str(self.count)),
                ]
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(process.poll() is not None for process in self.processes):
                raise RuntimeError(f"the server exited: {self.log.read_text()[-2000:]}")
            try:
                ready = http_status(self.port, "/readyz") == 200
            except OSError:
                ready = False
            if ready and len(self.workers()) >= self.count and listeners(self.port) >= len(self.processes):
                return
            time.sleep(0.3)
        raise RuntimeError("the server did not become ready in 60 s")

    def workers(self) -> list[int]:
        if self.mode == "reuseport":
            return [process.pid for process in self.processes]
        master = self.processes[0].pid
        try:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        except OSError:
            return []
        return [int(pid) for pid in children if b"spawn_main" in _cmdline(int(pid))]

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# CPU accounting (the machine is shared by wrk, the server and PostgreSQL)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a live process used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(values[:8])
    return (total - values[3] - values[4]) / CLOCK_TICKS, total / CLOCK_TICKS


class CpuMeter:
    """CPU used during one wrk run by the server's workers, by the PostgreSQL backends of the bench
    database (sampled, so backends that come and go are counted too), by wrk and by the machine."""

    def __init__(self, workers: list[int], database: str) -> None:
        self.workers, self.marker = workers, f" {database} ".encode()
        self.backends: dict[int, tuple[float, float]] = {}  # pid: (first seen, last seen)
        self.stop_event = threading.Event()
        self.sampler = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def _sample(self, first: bool) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            if pid not in self.backends:
                command = _cmdline(pid)
                if not (command.startswith(b"postgres: ") and self.marker in command):
                    continue
            cpu = process_cpu(pid)
            if cpu is not None:
                start = self.backends.get(pid, (cpu if first else 0.0, 0.0))[0]
                self.backends[pid] = (start, cpu)

    def _sample_until_stopped(self) -> None:
        while not self.stop_event.wait(0.25):
            self._sample(first=False)

    def __enter__(self) -> "CpuMeter":
        self.started = time.perf_counter()
        self.machine = machine_busy()
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.server = [process_cpu(pid) or 0.0 for pid in self.workers]
        self._sample(first=True)
        self.sampler.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_event.set()
        self.sampler.join()
        self._sample(first=False)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy, total = machine_busy()
        per_worker = [(process_cpu(pid) or 0.0) - b for pid, b in zip(self.workers, self.server, strict=True)]
        wall = time.perf_counter() - self.started
        self.result = {
            "server_s": sum(per_worker),
            "worker_share": max(per_worker) / max(1e-9, sum(per_worker)),
            "postgres_s": sum(last - first for first, last in self.backends.values()),
            "backends": len(self.backends),
            "wrk_s": (children.ru_utime + children.ru_stime)
            - (self.children.ru_utime + self.children.ru_stime),
            "machine_busy_s": busy - self.machine[0],
            "machine_s": total - self.machine[1],
            "wall_s": wall,
        }


# wrk


def run_wrk(
    port: int, scenario: str, data: Path, threads: int, connections: int, seconds: float, think_ms: float = 0
) -> dict[str, Any]:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}",
        "--",
        scenario,
        str(data),
        str(threads),
        secrets.token_hex(4),
        f"{think_ms:.1f}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result = json.loads(line.removeprefix("BENCH_JSON "))
            result["raw"] = done.stdout
            return result
    raise RuntimeError(f"wrk printed no figures: {done.stdout}\n{done.stderr}")


def profile_workers(
    pids: list[int], seconds: float, directory: Path, scenario: str
) -> list[subprocess.Popen]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return [
        subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, int(seconds) - 2)),
                "--gil",
                "--format",
                "raw",
                "--output",
                str(directory / f"{scenario}-{pid}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]


@dataclass
class Measured:
    scenario: str
    phase: str  # "max": closed loop, as fast as the server answers; "paced": at the target rate
    runs: list[dict[str, Any]] = field(default_factory=list)

    def median(self, key: str) -> float:
        return statistics.median(run[key] for run in self.runs)


def summarize(scenario: str, result: dict[str, Any], cpu: dict[str, Any]) -> dict[str, Any]:
    seconds = result["duration_us"] / 1e6
    statuses = {int(k): v for k, v in result["statuses"].items()}
    requests = result["requests"]
    created, conflicts = statuses.get(201, 0), statuses.get(409, 0)
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    socket_errors = sum(v for k, v in result["errors"].items() if k != "status")
    return {
        "rps": requests / seconds,
        "p50": result["latency_us"]["p50"] / 1000,
        "p90": result["latency_us"]["p90"] / 1000,
        "p99": result["latency_us"]["p99"] / 1000,
        "max": result["latency_us"]["max"] / 1000,
        "requests": requests,
        "created": created,
        "created_ps": created / seconds,
        "conflicts": conflicts,
        "conflicts_ps": conflicts / seconds,
        # a 409 is a valid answer to a hold only
        "unexpected": requests - ok - (conflicts if scenario == "book" else 0) + socket_errors,
        "socket_errors": socket_errors,
        "statuses": statuses,
        "codes": result["codes"],
        "wrapped": result["wrapped"],
        "server_ms": 1000 * cpu["server_s"] / max(1, requests),
        "postgres_ms": 1000 * cpu["postgres_s"] / max(1, requests),
        "wrk_ms": 1000 * cpu["wrk_s"] / max(1, requests),
        "busy": cpu["machine_busy_s"] / max(1e-9, cpu["wall_s"]),
        "backends": cpu["backends"],
        "busiest_worker": cpu["worker_share"],
    }


# Checks in the database


def check_database(engine: Engine, holds_answered: int, in_flight: int) -> list[tuple[str, bool, str]]:
    """(what, passed, found) for every check. wrk stops with up to `in_flight` holds sent but not
    yet answered; the server completes them, so the rows may exceed the 201s counted by that much."""
    queries = {
        "slots over capacity": "SELECT count(*) FROM slots WHERE booked_count > capacity",
        "slots whose booked_count differs from their active bookings": """
            SELECT count(*) FROM slots s LEFT JOIN (
                SELECT slot_id, count(*) AS n FROM bookings
                WHERE status IN ('proposed', 'pending', 'booked', 'arrived') GROUP BY slot_id
            ) b ON b.slot_id = s.id
            WHERE s.booked_count <> coalesce(b.n, 0)""",
        "patients with two overlapping active bookings": """
            SELECT count(DISTINCT a.patient_id) FROM bookings a JOIN bookings b
              ON a.patient_id = b.patient_id AND a.id < b.id
             AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
            WHERE a.status IN ('proposed', 'pending', 'booked', 'arrived')
              AND b.status IN ('proposed', 'pending', 'booked', 'arrived')""",
        "booking rows (one per 201 answered)": "SELECT count(*) FROM bookings",  # all are holds
        "places taken (sum of booked_count)": "SELECT coalesce(sum(booked_count), 0) FROM slots",
    }
    with engine.connect() as connection:
        found = {what: int(connection.execute(text(sql)).scalar_one()) for what, sql in queries.items()}
    rows = found["booking rows (one per 201 answered)"]
    return [
        *((what, count == 0, f"{count}") for what, count in list(found.items())[:3]),
        (
            "booking rows (one per 201 answered)",
            holds_answered <= rows <= holds_answered + in_flight,
            f"{rows} for {holds_answered} 201s (+ up to {in_flight} unanswered when wrk stopped)",
        ),
        (
            "places taken (sum of booked_count) = booking rows",
            found["places taken (sum of booked_count)"] == rows,
            f"{found['places taken (sum of booked_count)']}",
        ),
    ]


# Report


def target_rate(scenario: str, args: argparse.Namespace) -> float:
    """Requests/s the paced phase sends: the target (booking: enough requests for the target holds)."""
    if scenario == "book":
        return BOOKINGS_PER_SECOND_TARGET * args.requests_per_slot / CAPACITY
    return TARGETS.get(scenario, (500, 0.0))[0]


def print_report(
    args: argparse.Namespace, measured: dict[tuple[str, str], Measured], checks: list[tuple[str, bool, str]]
) -> None:
    machine = (
        f"{platform.node()} {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}"
    )
    print(f"\nmachine: {machine}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"server {args.server}, {args.workers} worker processes (h11, asyncio); wrk -t{args.threads}, "
        f"max: -c{args.connections} (booking -c{args.book_connections}), paced: -c{args.paced_connections}; "
        f"{args.warmup:g} s warm-up + {args.duration:g} s, {args.runs} run(s), medians; "
        f"{args.patients} patients, capacity {CAPACITY}, {args.requests_per_slot} requests per slot"
    )
    print(
        f"{'scenario':<9} {'phase':<6} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'errors':>6}  {'cpu ms/req: server':>18} {'pg':>5} {'wrk':>5} {'busy':>5} {'top wkr':>7}"
    )
    for (scenario, phase), result in measured.items():
        print(
            f"{scenario:<9} {phase:<6} {result.median('rps'):>7,.0f} {result.median('p50'):>7.1f} "
            f"{result.median('p90'):>7.1f} {result.median('p99'):>7.1f} {result.median('max'):>7.1f} "
            f"{sum(r['unexpected'] for r in result.runs):>6}  {result.median('server_ms'):>18.2f} "
            f"{result.median('postgres_ms'):>5.2f} {result.median('wrk_ms'):>5.2f} "
            f"{result.median('busy') * 100:>4.0f}% {result.median('busiest_worker') * 100:>6.0f}%"
        )
        per_run = ", ".join(f"{r['rps']:,.0f}/s p99 {r['p99']:.1f} ms" for r in result.runs)
        print(f"{'':<16} runs: {per_run}")
        if scenario == "book":
            holds = ", ".join(
                f"{r['created_ps']:,.0f} holds/s + {r['conflicts_ps']:,.0f} 409/s {r['codes']}"
                + (f" wrapped {r['wrapped']}" if r["wrapped"] else "")
                for r in result.runs
            )
            print(f"{'':<16} holds: {holds}")
    print_verdicts(measured, checks)


def print_verdicts(measured: dict[tuple[str, str], Measured], checks: list[tuple[str, bool, str]]) -> None:
    verdicts = []
    for scenario, (rate, p99) in TARGETS.items():
        if (scenario, "max") in measured:
            fastest = measured[scenario, "max"]
            paced = measured.get((scenario, "paced"))
            # p99 at the target rate when it was measured; else at full load
            tail = paced.median("p99") if paced else fastest.median("p99")
            met = fastest.median("rps") >= rate and tail < p99
            verdicts.append(
                f"{scenario} >= {rate}/s ({fastest.median('rps'):,.0f}) with p99 < {p99:g} ms "
                f"({tail:.1f}{' at the target rate' if paced else ''}): {'MET' if met else 'NOT MET'}"
            )
    if ("book", "max") in measured:
        holds = measured["book", "max"].median("created_ps")
        met = holds >= BOOKINGS_PER_SECOND_TARGET
        verdicts.append(
            f"booking >= {BOOKINGS_PER_SECOND_TARGET} holds/s ({holds:,.0f}): {'MET' if met else 'NOT MET'}"
        )
    if checks:
        print("database checks after booking:")
        for what, passed, found in checks:
            print(f"  {what}: {found} {'ok' if passed else 'FAILED'}")
        verdicts.append(
            f"zero double bookings: {'MET' if all(passed for _, passed, _ in checks) else 'NOT MET'}"
        )
    print("targets: " + "; ".join(verdicts))


def write_data(directory: Path, name: str, lines: list[str]) -> Path:
    path = directory / name
    path.write_text("\n".join(lines) + "\n")
    return path


def write_plans(workdir: Path, seeded: Seeded, args: argparse.Namespace) -> list[dict[str, Path]]:
    """Per run, the booking requests of the warm-up, the max and the paced phase: disjoint slots."""
    share = len(seeded.bookable) // args.runs
    taken: dict[int, set[datetime]] = {}
    plans = []
    for run in range(args.runs):
        chunk = seeded.bookable[run * share : (run + 1) * share]
        cuts = {"warm": (0, share // 6), "max": (share // 6, share // 6 + 5 * share // 12), "paced": None}
        cuts["paced"] = (cuts["max"][1], share)
        plans.append(
            {
                phase: write_data(
                    workdir,
                    f"book-{phase}-{run}.txt",
                    booking_plan(chunk[first:last], seeded.tokens, args.requests_per_slot, taken),
                )
                for phase, (first, last) in cuts.items()
            }
        )
    return plans


@dataclass
class Bench:
    args: argparse.Namespace
    server: ApiServer
    database: str
    clinics_file: Path
    plans: list[dict[str, Path]]
    measured: dict[tuple[str, str], Measured] = field(default_factory=dict)
    holds_answered: int = 0
    in_flight: int = 0

    def wrk(self, scenario: str, phase: str, run: int, seconds: float) -> dict[str, Any]:
        args = self.args
        data = self.plans[run][phase] if scenario == "book" else self.clinics_file
        connections = args.book_connections if scenario == "book" else args.connections
        think_ms = 0.0
        if phase == "paced":
            connections = args.paced_connections
            # each connection waits about this long after an answer (a few ms go to the answer)
            think_ms = max(1.0, connections * 1000 / target_rate(scenario, args) - 4)
        result = run_wrk(self.server.port, scenario, data, args.threads, connections, seconds, think_ms)
        if scenario == "book":
            self.holds_answered += int(result["statuses"].get("201", 0))
            self.in_flight += connections
        return result

    def measure(self, scenario: str, phase: str, run: int) -> None:
        args, workers = self.args, self.server.workers()
        profilers = []
        if args.profile and run == 0 and phase == "max":
            args.profile.mkdir(parents=True, exist_ok=True)
            profilers = profile_workers(workers, args.duration, args.profile, scenario)
        with CpuMeter(workers, self.database) as meter:
            result = self.wrk(scenario, phase, run, args.duration)
        for profiler in profilers:
            profiler.wait()
        summary = summarize(scenario, result, meter.result)
        self.measured.setdefault((scenario, phase), Measured(scenario, phase)).runs.append(summary)
        print(
            f"run {run + 1} {scenario} {phase}: {summary['rps']:,.0f} req/s, p50 {summary['p50']:.1f} ms, "
            f"p99 {summary['p99']:.1f} ms, statuses {summary['statuses']}; cpu-ms per request: server "
            f"{summary['server_ms']:.2f}, pg {summary['postgres_ms']:.2f}, wrk {summary['wrk_ms']:.2f}; "
            f"machine busy {summary['busy']:.0%}; pg backends {summary['backends']}; "
            f"busiest worker {summary['busiest_worker']:.0%} of server cpu",
            flush=True,
        )

    def run_all(self, scenarios: list[str]) -> None:
        for run in range(self.args.runs):
            for scenario in scenarios:
                if self.args.warmup > 0:
                    self.wrk(scenario, "warm", run, self.args.warmup)
                self.measure(scenario, "max", run)
                if self.args.paced:
                    self.measure(scenario, "paced", run)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured per scenario and run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of unmeasured load before each")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections, max phase (reads)")
    parser.add_argument("--book-connections", type=int, default=16, help="wrk connections, max phase (book)")
    parser.add_argument(
        "--paced", action=argparse.BooleanOptionalAction, default=True, help="latency at the target rates"
    )
    parser.add_argument("--paced-connections", type=int, default=64, help="wrk connections, paced phase")
    parser.add_argument("--server", choices=SERVER_MODES, default="uvicorn", help="see SERVER_MODES above")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--booking-days", type=int, default=20, help="days of slots kept for booking")
    parser.add_argument("--requests-per-slot", type=int, default=CAPACITY + 1)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset")
    parser.add_argument("--profile", type=Path, help="record the workers with py-spy into this folder")
    parser.add_argument("--keep", action="store_true", help="keep the database (it is printed)")
    args = parser.parse_args()
    scenarios = [s for s in SCENARIOS if s in args.scenarios.split(",")]
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install -y wrk)")

    admin_url, _ = provide_services()
    database = f"cardioalert_bench_{secrets.token_hex(4)}"
    url = create_database(admin_url, database)
    workdir = Path(tempfile.mkdtemp(prefix="cardioalert-load-"))
    server = ApiServer(args.server, url, free_port(), args.workers, workdir / "server.log")
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        upgrade_to_head(url)
        seeded = seed(engine, args.patients, args.booking_days)
        print(
            f"seeded {len(seeded.clinic_ids)} clinics, {len(seeded.tokens)} patients, "
            f"{len(seeded.bookable)} bookable slots from day 8 in {time.perf_counter() - started:.1f} s"
        )
        clinics_file = write_data(workdir, "clinics.txt", [str(c) for c in seeded.clinic_ids])
        plans = write_plans(workdir, seeded, args)
        server.start()
        print(f"{args.server} server on port {server.port}, workers {server.workers()}; database {database}")
        bench = Bench(args, server, database, clinics_file, plans)
        bench.run_all(scenarios)
        checks = check_database(engine, bench.holds_answered, bench.in_flight) if "book" in scenarios else []
        print_report(args, bench.measured, checks)
    finally:
        server.stop()
        engine.dispose()
        if args.keep:
            print(f"kept database {url}")
        else:
            drop_database(admin_url, database)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
