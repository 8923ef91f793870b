"""Load benchmark of the citizen portal, served by gunicorn as in production.

    .venv/bin/python tests/bench/citizen_load.py [--database sqlite|postgresql] [--duration SECONDS]
                                                 [--clients 1,8,32] [--servers default,3x4,5:sync]

What it does, every run from scratch:

1. makes a fresh database (an SQLite file in a temporary directory, or a new schema in PostgreSQL,
   created before and dropped after), migrates it and creates an intake key pair with the same
   `flask --app wsgi:reviewer db upgrade` / `keys init --json` commands as scripts/run.py;
2. starts `gunicorn -c config/gunicorn/citizen.py wsgi:citizen` on a free 127.0.0.1 port
   (PORTAL_ENV=production, COOKIE_SECURE=false, rate limits raised to 1000000 per minute so the
   limiter still runs but never refuses: every benchmark client is 127.0.0.1);
3. files a pool of reports to look up later, then, for each concurrency level and each scenario
   (landing page GET, report POST, status POST), runs the clients for a fixed time and prints
   requests/s, p50/p95/p99 latency, errors, CPU split and the workers' peak RSS;
4. always stops gunicorn (SIGTERM, then SIGKILL of its process group after a bound) and drops
   the database.

The load generator is one asyncio process speaking raw HTTP/1.1 over one keep-alive connection per
client. Each client fetches the report form once, keeps the `citizen_session` cookie and reuses the
CSRF token for all its requests. It runs on the same machine as the server and its CPU time is
measured and printed: on a small machine it competes with gunicorn for the same cores.

This is a script, not a pytest test: its name does not match `test_*.py`, it defines no test
functions, and importing it does nothing but define them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import re
import resource
import runpy
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONFIG = ROOT / "config" / "gunicorn" / "citizen.py"
EXPERIMENT_CONFIG = Path(__file__).resolve().parent / "gunicorn_experiment.py"
DEFAULT_PG_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
HOST = "127.0.0.1"
NO_LIMIT = "1000000 per minute"

SCENARIOS = ("landing", "submit", "status")
EXPECTED_STATUS = {"landing": 200, "submit": 201, "status": 200}
# Targets at TARGET_CLIENTS concurrent clients.
TARGET_CLIENTS = 32
TARGET_RPS = {"submit": 500, "status": 1000}
TARGET_P99_MS = 100.0
# 'other CPU%' (neither the load generator, gunicorn, PostgreSQL nor Redis) above this marks a disturbed phase.
NOISY_PCT = 15.0

CSRF_RE = re.compile(rb'id="csrf_token"[^>]*?value="([^"]+)"')
COOKIE_RE = re.compile(rb"citizen_session=([^;\r\n]*)")
RECEIPT_RE = re.compile(rb'id="receipt-code">\s*([A-Z0-9-]{20,40})\s*<')
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

NARRATIVE = (
    "Cán bộ một cửa của phường yêu cầu người dân nộp thêm 2.000.000 đồng \"phí bồi dưỡng\" ngoài lệ phí "
    "theo quy định thì mới tiếp nhận hồ sơ cấp giấy chứng nhận quyền sử dụng đất. Việc này diễn ra nhiều "
    "lần trong tháng 3 và tháng 4, vào buổi sáng thứ Ba và thứ Năm, tại quầy số 2. Người nộp tiền không "
    "được cấp biên lai. Nhiều người dân trong khu phố đã gặp tình trạng tương tự và có thể xác nhận. "
    "Hồ sơ nào không nộp khoản tiền này đều bị trả lại với lý do thiếu giấy tờ, dù đã đủ theo danh mục "
    "niêm yết công khai."
)


# --------------------------------------------------------------------------------------------------
# HTTP client


class HttpError(Exception):
    """A response that could not be read: counted as an error of this name."""


class Client:
    """One HTTP/1.1 keep-alive connection, reopened when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.cookie = b""
        self.token = ""
        self.connects = 0

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request (connecting first if needed, which counts in its time); (status, body)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
            self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connects += 1
        reader, writer = self.reader, self.writer
        assert reader is not None
        writer.write(raw)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            await self.close()
            raise HttpError("connection closed" if not exc.partial else "truncated headers") from None
        lines = head.split(b"\r\n")
        status_line = lines[0].split(b" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/"):
            await self.close()
            raise HttpError("bad status line")
        status = int(status_line[1])
        length = -1
        chunked = False
        close = status_line[0] == b"HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection":
                close = value.strip().lower() == b"close"
            elif name == b"set-cookie":
                match = COOKIE_RE.search(value)
                if match:
                    self.cookie = match.group(1)
        try:
            if chunked:
                body = await self._read_chunked(reader)
            elif length >= 0:
                body = await reader.readexactly(length)
            else:
                body = await reader.read()
                close = True
        except asyncio.IncompleteReadError:
            await self.close()
            raise HttpError("truncated body") from None
        if close:
            await self.close()
        return status, body

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    def _cookie_header(self) -> bytes:
        return b"Cookie: citizen_session=" + self.cookie + b"\r\n" if self.cookie else b""

    def get(self, path: str) -> bytes:
        return (
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nAccept: text/html\r\n".encode()
            + self._cookie_header()
            + b"\r\n"
        )

    def post(self, path: str, form: dict[str, str] | list[tuple[str, str]]) -> bytes:
        body = urlencode(form, quote_via=quote).encode()
        return (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nAccept: text/html\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n".encode()
            + self._cookie_header()
            + b"\r\n"
            + body
        )

    async def fetch_token(self) -> None:
        """GET the report form once: keep its session cookie and CSRF token for every later POST."""
        status, body = await self.request(self.get("/vi/report"))
        match = CSRF_RE.search(body)
        if status != 200 or not match or not self.cookie:
            raise RuntimeError(f"could not get a CSRF token and session cookie (HTTP {status})")
        self.token = match.group(1).decode()


def report_form(token: str) -> list[tuple[str, str]]:
    """What a browser sends for an anonymous report: every field, most of them left empty."""
    return [
        ("csrf_token", token),
        ("report_type", "THONG_TIN_TO_CAO"),
        ("narrative", NARRATIVE),
        ("misconduct", "BRIBERY"),
        ("sector", "LAND"),
        ("money_involved", "2.000.000 đồng mỗi hồ sơ"),
        ("harm", ""),
        ("subject_name", "Cán bộ quầy số 2"),
        ("subject_position", ""),
        ("subject_agency", "Bộ phận một cửa phường"),
        ("subject_level", "WARD"),
        ("period", "Tháng 3 và tháng 4"),
        ("ongoing", "YES"),
        ("ward", "00190"),
        ("former_district", ""),
        ("location", ""),
        ("evidence", ""),
        ("knowledge", "VICTIM"),
        ("witnesses", ""),
        ("reported_before", "NO"),
        ("reported_before_details", ""),
        ("retaliation_risk", "UNKNOWN"),
        ("full_name", ""),
        ("address", ""),
        ("id_number", ""),
        ("contact", ""),
        ("website", ""),
    ]


# --------------------------------------------------------------------------------------------------
# Process and machine measurements (Linux /proc)


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rfind(")") + 2 :].split()  # fields from the 3rd (state) on


def process_cpu(pid: int, with_reaped_children: bool = False) -> float:
    """CPU seconds of a process (plus those of its children it has waited for)."""
    try:
        fields = _stat_fields(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(part) for part in text.split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat_fields(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
    return found


def server_cpu(master: int) -> tuple[float, dict[int, float]]:
    """CPU seconds of the whole gunicorn tree: master, reaped (recycled) workers, live workers."""
    workers = {pid: process_cpu(pid) for pid in children(master)}
    return process_cpu(master, with_reaped_children=True) + sum(workers.values()), workers


DATABASE_PROCESSES = ("postgres", "redis-server")


def database_cpu() -> float:
    """CPU seconds of the PostgreSQL and Redis servers on this machine (0 if none). For PostgreSQL:
    the postmaster with the backends it has reaped, plus the live backends, so that backends which
    exit mid-phase still count."""
    processes: dict[int, int] = {}  # pid -> parent pid
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() in DATABASE_PROCESSES:
                processes[int(entry.name)] = int(_stat_fields(int(entry.name))[1])
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError, ValueError):
            continue
    return sum(process_cpu(pid, with_reaped_children=parent not in processes) for pid, parent in processes.items())


def system_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


def machine_busy_pct(seconds: float = 1.0) -> float:
    """How busy the machine is, in % of one core, over `seconds`."""
    b0, t0 = system_cpu()
    time.sleep(seconds)
    b1, t1 = system_cpu()
    return 100 * (os.cpu_count() or 1) * (b1 - b0) / max(1, t1 - t0)


def wait_until_idle(limit_pct: float, timeout: float) -> float:
    """Wait (at most `timeout` s) until other work on the machine uses less than `limit_pct` of a core."""
    deadline = time.monotonic() + timeout
    busy = machine_busy_pct()
    while busy >= limit_pct and time.monotonic() < deadline:
        busy = machine_busy_pct(2.0)
    return busy


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def memory_kib(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


# --------------------------------------------------------------------------------------------------
# Server


# Extra gunicorn command-line settings a server spec may carry after "+", e.g. 4x4+keep-alive=0.
EXTRA_SETTINGS = ("keep-alive", "worker-connections", "max-requests", "max-requests-jitter", "backlog")


@dataclass(frozen=True)
class ServerSpec:
    """`default` (config/gunicorn/citizen.py as it is), `WxT` (W gthread workers, T threads), or
    `W:sync`; optionally followed by `+setting=value` for a few gunicorn settings (EXTRA_SETTINGS),
    e.g. `default+keep-alive=0` or `4x4+worker-connections=8`."""

    text: str
    workers: int | None = None
    threads: int | None = None
    worker_class: str | None = None
    extra: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> ServerSpec:
        base, *settings = text.split("+")
        extra = []
        for setting in settings:
            name, _, value = setting.partition("=")
            if name not in EXTRA_SETTINGS or not value.isdigit():
                raise argparse.ArgumentTypeError(f"server spec {text!r}: +NAME=INTEGER with NAME in {EXTRA_SETTINGS}")
            extra.append((name, value))
        if base == "default":
            return cls(text, extra=tuple(extra))
        match = re.fullmatch(r"(\d+)(?:x(\d+))?(?::(sync|gthread))?", base)
        if not match or (match.group(2) is None and match.group(3) != "sync"):
            raise argparse.ArgumentTypeError(f"server spec {text!r}: use default, WxT, WxT:gthread or W:sync")
        workers, threads, worker_class = int(match.group(1)), match.group(2), match.group(3)
        if worker_class == "sync":
            if threads not in (None, "1"):
                raise argparse.ArgumentTypeError("the sync worker has one thread (gunicorn turns threads > 1 into gthread)")
            return cls(text, workers, 1, "sync", tuple(extra))
        return cls(text, workers, int(threads), "gthread", tuple(extra))

    def describe(self) -> str:
        shipped = shipped_settings()
        kind = self.worker_class or shipped["worker_class"]
        workers = self.workers or shipped["workers"]
        threads = self.threads or shipped["threads"]
        label = f"{workers} {kind} workers" + (f" x {threads} threads" if kind == "gthread" else "")
        if self.text.startswith("default"):
            label += " (config/gunicorn/citizen.py as it is)"
        return label + "".join(f", {name} {value}" for name, value in self.extra)


def shipped_settings() -> dict[str, Any]:
    """workers, worker_class and threads that config/gunicorn/citizen.py gives without CITIZEN_* variables."""
    saved = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith("CITIZEN_")}
    try:
        config = runpy.run_path(str(GUNICORN_CONFIG))
    finally:
        os.environ.update(saved)
    return {
        "workers": config.get("workers", 1),
        "worker_class": config.get("worker_class", "sync"),
        "threads": config.get("threads", 1),
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Server:
    """gunicorn in its own process group; stop() is bounded and always kills what is left."""

    def __init__(self, spec: ServerSpec, env: dict[str, str], log_path: Path, experiment: bool) -> None:
        self.spec = spec
        self.port = free_port()
        self.log_path = log_path
        config = EXPERIMENT_CONFIG if experiment else GUNICORN_CONFIG
        command = [sys.executable, "-m", "gunicorn", "--config", str(config), "--bind", f"{HOST}:{self.port}"]
        env = dict(env)
        if spec.workers is not None:
            env["CITIZEN_WORKERS"] = str(spec.workers)
        if spec.threads is not None:
            env["CITIZEN_THREADS"] = str(spec.threads)
        if spec.worker_class is not None:
            command += ["--worker-class", spec.worker_class]
        for name, value in spec.extra:
            command += [f"--{name}", value]
        command.append("wsgi:citizen")
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.workers_seen: set[int] = set()
        self.peak_hwm_kib = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=2) as conn:
                    conn.sendall(f"GET /vi/ HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
                    if conn.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def sample_memory(self) -> None:
        for pid in children(self.pid):
            self.workers_seen.add(pid)
            self.peak_hwm_kib = max(self.peak_hwm_kib, memory_kib(pid, "VmHWM"))

    def log_tail(self, lines: int = 30) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 25.0) -> None:
        if self.process.poll() is None:
            try:
                self.process.send_signal(signal.SIGTERM)  # graceful: workers finish what they serve
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # our own process group: any leftover worker
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()


# --------------------------------------------------------------------------------------------------
# Database


class Scratch:
    """A fresh database: an SQLite file in a temporary directory or a new PostgreSQL schema."""

    def __init__(self, kind: str, workdir: Path, pg_url: str) -> None:
        self.kind = kind
        self.schema: str | None = None
        self.pg_url = pg_url
        if kind == "sqlite":
            self.url = f"sqlite:///{workdir / 'portal.db'}"
            return
        from sqlalchemy import create_engine, text

        self.schema = f"bench_{uuid.uuid4().hex[:12]}"
        engine = create_engine(pg_url)
        try:
            with engine.begin() as connection:
                connection.execute(text(f"CREATE SCHEMA {self.schema}"))
        finally:
            engine.dispose()
        separator = "&" if "?" in pg_url else "?"
        self.url = f"{pg_url}{separator}options=-csearch_path%3D{self.schema}"

    def drop(self) -> None:
        if self.schema is None:
            return
        from sqlalchemy import create_engine, text

        engine = create_engine(self.pg_url)
        try:
            with engine.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE"))
        finally:
            engine.dispose()
        self.schema = None

    def case_count(self) -> int | None:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        try:
            with engine.connect() as connection:
                return int(connection.execute(text("SELECT count(*) FROM cases")).scalar_one())
        except Exception:  # noqa: BLE001 - informational only
            return None
        finally:
            engine.dispose()


def flask_command(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "-m", "flask", "--app", "wsgi:reviewer", *args]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def portal_environment(database_url: str, ratelimit_storage: str | None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("CITIZEN_", "RATELIMIT_"))}
    env.update(
        {
            "PORTAL_ENV": "production",
            "DATABASE_URL": database_url,
            "CITIZEN_SECRET_KEY": secrets.token_urlsafe(48),
            "REVIEWER_SECRET_KEY": secrets.token_urlsafe(48),
            "RECEIPT_PEPPER": secrets.token_urlsafe(48),
            "COOKIE_SECURE": "false",
            # Every benchmark client is 127.0.0.1: the limiter still runs, it just never refuses.
            "RATELIMIT_SUBMIT": NO_LIMIT,
            "RATELIMIT_LOOKUP": NO_LIMIT,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    if ratelimit_storage:
        env["RATELIMIT_STORAGE_URI"] = ratelimit_storage
    else:
        env.pop("RATELIMIT_STORAGE_URI", None)
    env.pop("INTAKE_PUBLIC_KEY", None)
    flask_command(env, "db", "upgrade")
    created = json.loads(flask_command(env, "keys", "init", "--json"))
    env["INTAKE_PUBLIC_KEY"] = created["public_key"]
    return env


# --------------------------------------------------------------------------------------------------
# Load phases


@dataclass
class PhaseResult:
    server: str
    scenario: str
    clients: int
    seconds: float
    requests: int
    rps: float  # answered with the expected status, per second
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    error_kinds: dict[str, int]
    reconnects: int
    client_cpu_pct: float
    gunicorn_cpu_pct: float
    database_cpu_pct: float
    other_cpu_pct: float
    machine_busy_pct: float
    worker_cpu_s: list[float] = field(default_factory=list)
    workers_seen: int = 0
    peak_worker_hwm_mib: float = 0.0
    profile: dict[str, Any] | None = None

    @property
    def cpu_ms_per_request(self) -> float:
        """gunicorn CPU time per measured request (all workers), in ms."""
        return 10 * self.gunicorn_cpu_pct / self.rps if self.rps else float("nan")

    @property
    def worker_split(self) -> str:
        """Share of the live workers' CPU time taken by each worker, busiest first (e.g. 84/16/0/0)."""
        total = sum(self.worker_cpu_s)
        if total <= 0:
            return "-"
        return "/".join(f"{100 * seconds / total:.0f}" for seconds in self.worker_cpu_s)

    def verdict(self) -> str:
        if self.clients != TARGET_CLIENTS:
            return ""
        misses = []
        if self.scenario in TARGET_RPS and self.rps < TARGET_RPS[self.scenario]:
            misses.append(f"req/s<{TARGET_RPS[self.scenario]}")
        if self.p99_ms >= TARGET_P99_MS:
            misses.append(f"p99>={TARGET_P99_MS:.0f}ms")
        if self.errors:
            misses.append("errors")
        return "MISS: " + ", ".join(misses) if misses else "met"


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    """Nearest-rank percentile."""
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


class Pool:
    """Receipts filed so far; status checks draw from them."""

    def __init__(self) -> None:
        self.receipts: list[str] = []

    def add_from(self, body: bytes) -> bool:
        match = RECEIPT_RE.search(body)
        if match:
            self.receipts.append(match.group(1).decode())
        return bool(match)


async def open_clients(port: int, clients: int, connect: str) -> list[Client]:
    """Each client fetches its form (and so opens its connection): all at once, or one after the other."""
    conns = [Client(port) for _ in range(clients)]
    if connect == "burst":
        await asyncio.wait_for(asyncio.gather(*(conn.fetch_token() for conn in conns)), 60)
    else:
        for conn in conns:
            await asyncio.wait_for(conn.fetch_token(), 60)
    for conn in conns:
        conn.connects = 0
    return conns


async def run_phase(
    server: Server,
    scenario: str,
    clients: int,
    duration: float,
    warmup: float,
    pool: Pool,
    record: bool = True,
    connect: str = "serial",
    profile: tuple[str, Path] | None = None,
) -> PhaseResult | None:
    """`clients` connections loop on one scenario for warmup + duration seconds; only requests that
    start after the warm-up are measured. Throughput is measured requests over the measured window
    (until the last of them has been answered)."""
    conns = await open_clients(server.port, clients, connect)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    expected = EXPECTED_STATUS[scenario]
    loop_start = time.perf_counter()
    measure_start = loop_start + warmup
    stop_at = measure_start + duration
    marks: dict[str, Any] = {}

    async def one_client(index: int, conn: Client) -> None:
        form_template = report_form(conn.token)
        landing = conn.get("/vi/")
        receipts = pool.receipts
        cursor = random.randrange(len(receipts)) if receipts else 0
        perf = time.perf_counter
        while True:
            started = perf()
            if started >= stop_at:
                return
            if scenario == "landing":
                raw = landing
            elif scenario == "submit":
                raw = conn.post("/vi/report", form_template)
            else:
                cursor = (cursor + clients) % len(receipts)
                raw = conn.post("/vi/status", {"csrf_token": conn.token, "receipt": receipts[cursor]})
            try:
                status, body = await conn.request(raw)
                problem = None if status == expected else f"HTTP {status}"
                if problem is None and scenario == "submit" and not pool.add_from(body):
                    problem = "201 without receipt"
            except (HttpError, ConnectionError, OSError) as exc:
                problem = str(exc) if isinstance(exc, HttpError) else type(exc).__name__
                await conn.close()
            finished = perf()
            if started >= measure_start:
                latencies.append(finished - started)
                if problem:
                    errors[problem] += 1
                marks["last"] = finished

    async def sampler() -> None:
        while True:
            server.sample_memory()
            await asyncio.sleep(0.5)

    async def start_measuring() -> None:
        await asyncio.sleep(max(0.0, measure_start - time.perf_counter()))
        marks["cpu0"] = (self_cpu(), server_cpu(server.pid), database_cpu(), system_cpu(), time.perf_counter())
        if profile is not None:
            marks["profile"] = await profile_server(profile[0], server.pid, duration - 1, profile[1])

    sampling = asyncio.ensure_future(sampler())
    starter = asyncio.ensure_future(start_measuring())
    tasks = [asyncio.ensure_future(one_client(i, conn)) for i, conn in enumerate(conns)]
    done, pending = await asyncio.wait(tasks, timeout=warmup + duration + 35)
    for task in pending:  # still waiting for an answer 35 s after the end: a hung request
        task.cancel()
        errors["timeout (>35 s)"] += 1
    end_marks = (self_cpu(), server_cpu(server.pid), database_cpu(), system_cpu(), time.perf_counter())
    sampling.cancel()
    await starter  # (with a profile, waits for py-spy to write it)
    server.sample_memory()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if task.exception() is not None:
            errors[f"client crash: {task.exception()!r}"] += 1
    reconnects = sum(conn.connects for conn in conns)
    await asyncio.gather(*(conn.close() for conn in conns))
    if not record:
        return None

    (c0, (s0, workers0), p0, (b0, t0), w0) = marks["cpu0"]
    (c1, (s1, workers1), p1, (b1, t1), w1) = end_marks
    window = max(1e-9, marks.get("last", w1) - measure_start)
    wall = max(1e-9, w1 - w0)
    client_pct = 100 * (c1 - c0) / wall
    gunicorn_pct = 100 * (s1 - s0) / wall
    database_pct = 100 * (p1 - p0) / wall
    ncpu = os.cpu_count() or 1
    busy_pct = 100 * ncpu * (b1 - b0) / max(1, t1 - t0)
    latencies.sort()
    ms = [value * 1000 for value in latencies]
    return PhaseResult(
        server=server.spec.text,
        scenario=scenario,
        clients=clients,
        seconds=round(window, 3),
        requests=len(latencies),
        rps=round((len(latencies) - sum(errors.values())) / window, 1),
        p50_ms=round(percentile(ms, 0.50), 2),
        p95_ms=round(percentile(ms, 0.95), 2),
        p99_ms=round(percentile(ms, 0.99), 2),
        max_ms=round(ms[-1] if ms else float("nan"), 2),
        errors=sum(errors.values()),
        error_kinds=dict(errors),
        reconnects=reconnects,
        client_cpu_pct=round(client_pct, 1),
        gunicorn_cpu_pct=round(gunicorn_pct, 1),
        database_cpu_pct=round(database_pct, 1),
        other_cpu_pct=round(max(0.0, busy_pct - client_pct - gunicorn_pct - database_pct), 1),
        machine_busy_pct=round(busy_pct, 1),
        worker_cpu_s=sorted(
            (round(workers1[pid] - workers0[pid], 2) for pid in workers1 if pid in workers0), reverse=True
        ),
        workers_seen=len(server.workers_seen),
        peak_worker_hwm_mib=round(server.peak_hwm_kib / 1024, 1),
        profile=marks.get("profile"),
    )


async def seed_receipts(server: Server, pool: Pool, count: int) -> None:
    """File reports until the pool holds `count` receipts (not measured)."""
    for _attempt in range(10):
        if len(pool.receipts) >= count:
            return
        await run_phase(server, "submit", 8, min(10.0, max(0.5, (count - len(pool.receipts)) / 200)), 0.0, pool, False)
    if not pool.receipts:
        raise RuntimeError("could not file any report to look up later: see the gunicorn log")


# --------------------------------------------------------------------------------------------------
# Optional profile of the server with py-spy (installed elsewhere, e.g. in a temporary venv)

# Where the GIL holder's time goes, by the innermost frame that belongs to a known part.
SELF_RULES = (
    ("DB commit (fsync on SQLite)", ("do_commit (",)),
    ("crypto (PyNaCl, hashlib, crypto/)", ("nacl/", "crypto/", "hashlib", "hmac.py")),
    ("SQLAlchemy + DB driver", ("sqlalchemy/", "psycopg/", "sqlite3")),
    ("Jinja2 templates", ("jinja2/", ".html:")),
    ("WTForms / Flask-WTF / itsdangerous", ("wtforms/", "flask_wtf/", "itsdangerous/")),
    ("Babel / Flask-Babel", ("babel/",)),
    ("rate limiter", ("flask_limiter/", "limits/")),
    ("MarkupSafe", ("markupsafe/",)),
    ("Werkzeug (HTTP, routing, cookies)", ("werkzeug/",)),
    ("Flask", ("flask/",)),
    ("gunicorn", ("gunicorn/",)),
    ("portal/ (app code)", ("portal/",)),
)
# Share of samples inside these calls (inclusive time).
INCLUSIVE_RULES = (
    ("render_template", ("render_template (",)),
    ("ReportForm() construction", ("ReportForm.__init__ (",)),
    ("  of which ward_choices()", ("ward_choices (",)),
    ("form validation + CSRF check", ("validate_on_submit (",)),
    ("reports.describe()", ("describe (portal/reports.py",)),
    ("cases.file_report()", ("file_report (",)),
    ("  of which the write transaction", ("Database.transaction (", "allocate_reference (")),
    ("  of which seal_document()", ("seal_document (",)),
    ("cases.find_by_receipt()", ("find_by_receipt (",)),
    ("ReporterCase.messages() (lazy load)", ("ReporterCase.messages (",)),
    ("rate limiter check", ("_check_request_limit (",)),
    ("gunicorn worker boot (recycling)", ("load_wsgi (", "init_process (gunicorn/workers/base.py")),
)


def summarise_profile(raw: Path) -> dict[str, Any]:
    """Percentages of py-spy samples (raw collapsed-stack format) by part and by call."""
    by_part: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        part = "other (stdlib, glue)"
        for frame in reversed(frames):
            matched = next((name for name, keys in SELF_RULES if any(key in frame for key in keys)), None)
            if matched:
                part = matched
                break
        by_part[part] += count
        for name, keys in INCLUSIVE_RULES:
            if any(key in stack for key in keys):
                inclusive[name] += count
    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "self_by_part_pct": {name: round(100 * n / total, 1) for name, n in by_part.most_common()},
        "inclusive_pct": {name: round(100 * inclusive[name] / total, 1) for name, _keys in INCLUSIVE_RULES},
    }


async def profile_server(py_spy: str, master: int, seconds: float, output: Path) -> dict[str, Any]:
    """Sample the whole gunicorn tree (GIL holders only: where CPU goes) for `seconds`."""
    process = await asyncio.create_subprocess_exec(
        py_spy, "record", "--pid", str(master), "--subprocesses", "--gil", "--nonblocking", "--rate", "100",
        "--duration", str(max(1, int(seconds))), "--format", "raw", "--output", str(output),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(process.communicate(), seconds + 30)
    if process.returncode != 0 or not output.exists():
        return {"error": err.decode(errors="replace")[-500:]}
    return summarise_profile(output)


# --------------------------------------------------------------------------------------------------
# Report


COLUMNS = (
    ("server", "server", "{}"),
    ("clients", "clients", "{}"),
    ("scenario", "scenario", "{}"),
    ("rps", "req/s", "{:.0f}"),
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("p95_ms", "p95 ms", "{:.1f}"),
    ("p99_ms", "p99 ms", "{:.1f}"),
    ("errors", "errors", "{}"),
    ("cpu_ms_per_request", "gunicorn CPU ms/req", "{:.1f}"),
    ("client_cpu_pct", "client CPU%", "{:.0f}"),
    ("gunicorn_cpu_pct", "gunicorn CPU%", "{:.0f}"),
    ("database_cpu_pct", "postgres+redis CPU%", "{:.0f}"),
    ("other_cpu_pct", "other CPU%", "{:.0f}"),
    ("worker_split", "worker CPU split %", "{}"),
    ("peak_worker_hwm_mib", "worker peak RSS MiB", "{:.0f}"),
    ("verdict", f"target at {TARGET_CLIENTS} clients", "{}"),
)


def table(results: list[PhaseResult]) -> str:
    rows = [[title for _key, title, _fmt in COLUMNS]]
    for result in results:
        row = []
        for key, _title, fmt in COLUMNS:
            value = result.verdict() if key == "verdict" else getattr(result, key)
            row.append(fmt.format(value))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    numeric = {i for i, (key, _t, _f) in enumerate(COLUMNS) if key not in ("server", "scenario", "verdict", "worker_split")}

    def line(row: list[str]) -> str:
        cells = [cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        return "| " + " | ".join(cells) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":" if i in numeric else "-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])


def machine_summary() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = memory_kib_total()
    import gunicorn  # noqa: PLC0415 - only for its version

    try:
        revision = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        revision = "unknown"
    return {
        "code": revision or "unknown",
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "gunicorn": gunicorn.__version__,
        "kernel": platform.release(),
    }


def memory_kib_total() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help=f"admin URL for PostgreSQL (default {DEFAULT_PG_URL})")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per phase (default 10)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each phase (default 1)")
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels, comma-separated (default 1,8,32)")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated subset of {','.join(SCENARIOS)}"
    )
    parser.add_argument(
        "--servers",
        default="default",
        help="gunicorn settings to run one after the other, comma-separated: default (config/gunicorn/citizen.py\n"
        "as it is, without CITIZEN_* variables), "
        "WxT (W gthread workers with T threads) or W:sync (W sync workers), each optionally followed by\n"
        "+SETTING=N for SETTING in keep-alive, worker-connections, max-requests, max-requests-jitter, backlog.\n"
        "Example: default,2x2,4x1,3:sync,default+keep-alive=0",
    )
    parser.add_argument(
        "--connect",
        choices=("serial", "burst"),
        default="serial",
        help="open the clients' connections one after the other (default), or all at once: with the gthread\n"
        "worker a burst of connections often lands on one or two workers and stays there (keep-alive)",
    )
    parser.add_argument("--seed-receipts", type=int, default=1000, help="reports filed before the status checks")
    parser.add_argument(
        "--sqlite-synchronous",
        choices=("FULL", "NORMAL", "OFF"),
        help="EXPERIMENT, not the shipped setting: override the app's PRAGMA synchronous=FULL in the server\n"
        "(through tests/bench/gunicorn_experiment.py) to measure what the per-commit fsync costs",
    )
    parser.add_argument(
        "--ratelimit-storage",
        help="RATELIMIT_STORAGE_URI for the server, e.g. redis://127.0.0.1:6379/15 (a local Redis only);\n"
        "default: the app's default, memory:// (per worker process)",
    )
    parser.add_argument(
        "--serialize-sqlite-writes",
        action="store_true",
        help="EXPERIMENT, not the shipped code: queue each worker's SQLite write transactions on a\n"
        "threading.Lock (tests/bench/gunicorn_experiment.py) instead of letting its threads poll SQLite's lock",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=60,
        help="before starting, wait up to this many seconds for the machine to be idle (default 60);\n"
        "a busy machine is reported, and 'other CPU%%' shows any interference during each phase",
    )
    parser.add_argument(
        "--py-spy",
        help="path to a py-spy binary: profile gunicorn (all workers, GIL holders) during every measured phase;\n"
        "py-spy's own CPU use then shows in 'other CPU%%', so do not compare such a run's throughput",
    )
    parser.add_argument("--profile-dir", type=Path, default=Path("bench-profiles"), help="where py-spy's raw files go")
    parser.add_argument("--log-dir", type=Path, help="keep gunicorn's logs (error log at warning) in this directory")
    parser.add_argument(
        "--retry-noisy",
        type=int,
        default=2,
        help="run a phase again (at most this many times, default 2) when other work used >= 15%% of a core",
    )
    parser.add_argument("--json", type=Path, help="also write all results to this JSON file")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=570,
        help="refuse plans longer than this, and retry no disturbed phase past it (default 570)",
    )
    args = parser.parse_args(argv)
    args.client_levels = [int(part) for part in args.clients.split(",") if part.strip()]
    args.scenario_list = [part.strip() for part in args.scenarios.split(",") if part.strip()]
    for scenario in args.scenario_list:
        if scenario not in SCENARIOS:
            parser.error(f"unknown scenario {scenario!r}")
    try:
        args.server_specs = [ServerSpec.parse(part.strip()) for part in args.servers.split(",") if part.strip()]
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.ratelimit_storage and not re.match(r"(memory://|redis://(127\.0\.0\.1|localhost)[:/])", args.ratelimit_storage):
        parser.error("--ratelimit-storage: memory:// or a redis:// URL on 127.0.0.1 only")
    if (args.sqlite_synchronous or args.serialize_sqlite_writes) and args.database != "sqlite":
        parser.error("--sqlite-synchronous and --serialize-sqlite-writes apply to --database sqlite only")
    phases = len(args.server_specs) * len(args.client_levels) * len(args.scenario_list)
    estimate = 15 + len(args.server_specs) * 8 + phases * (args.duration + args.warmup + 1.5) + args.seed_receipts / 100
    if estimate > args.max_seconds:
        parser.error(f"this plan would take about {estimate:.0f} s, over --max-seconds {args.max_seconds:.0f}")
    args.estimate = estimate
    return args


async def run_server_plan(args: argparse.Namespace, server: Server, pool: Pool) -> list[PhaseResult]:
    results = []
    if "status" in args.scenario_list:
        await seed_receipts(server, pool, max(1, args.seed_receipts))
    for clients in args.client_levels:
        for scenario in args.scenario_list:
            profile = None
            if args.py_spy:
                args.profile_dir.mkdir(parents=True, exist_ok=True)
                raw = args.profile_dir / f"{args.database}-{server.spec.text}-{clients}-{scenario}.raw"
                profile = (args.py_spy, raw)
            for attempt in range(args.retry_noisy + 1):
                result = await run_phase(
                    server, scenario, clients, args.duration, args.warmup, pool, connect=args.connect, profile=profile
                )
                assert result is not None
                retry_fits = time.monotonic() + 125 + args.warmup + args.duration < args.deadline
                if result.other_cpu_pct < NOISY_PCT or attempt == args.retry_noisy or not retry_fits:
                    break
                print(
                    f"  {server.spec.text:>8} {clients:>3} clients {scenario:<8} disturbed by other work "
                    f"({result.other_cpu_pct:.0f}% of a core): waiting for an idle machine, then again",
                    flush=True,
                )
                wait_until_idle(NOISY_PCT, 120)
            results.append(result)
            extra = f"  errors: {result.error_kinds}" if result.errors else ""
            split = "/".join(f"{seconds:.1f}" for seconds in result.worker_cpu_s)
            print(
                f"  {server.spec.text:>8} {clients:>3} clients {scenario:<8} {result.rps:8.1f} req/s  "
                f"p50 {result.p50_ms:6.1f}  p99 {result.p99_ms:7.1f} ms  client {result.client_cpu_pct:.0f}% "
                f"gunicorn {result.gunicorn_cpu_pct:.0f}% postgres+redis {result.database_cpu_pct:.0f}% "
                f"other {result.other_cpu_pct:.0f}%  "
                f"worker CPU s {split or '-'}  connects {result.reconnects}{extra}",
                flush=True,
            )
            if result.profile:
                print("    profile (share of GIL-holding samples):", json.dumps(result.profile), flush=True)
    return results


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.deadline = time.monotonic() + args.max_seconds  # retries of disturbed phases stop short of it
    if args.py_spy:
        args.retry_noisy = 0  # py-spy's own CPU time shows as 'other CPU%'
    machine = machine_summary()
    print(
        f"Machine: {machine['cpus']} CPUs ({machine['cpu_model']}), {machine['memory_gib']} GiB, "
        f"Python {machine['python']}, gunicorn {machine['gunicorn']}; code {machine['code']}"
    )
    print(
        f"Plan: database={args.database}, servers={args.servers}, clients={args.clients}, "
        f"rate-limit storage={args.ratelimit_storage or 'memory:// (app default)'}, "
        f"scenarios={args.scenarios}, connect={args.connect}, {args.duration:g} s per phase after {args.warmup:g} s warm-up "
        f"(about {args.estimate:.0f} s in all)"
    )
    print(
        "Note: the load generator runs on this machine and shares its CPUs with gunicorn"
        + (" and PostgreSQL" if args.database == "postgresql" else "")
        + "; its CPU use is shown in 'client CPU%' (100% = one core); 'other CPU%' is everything else\n"
        + "(other processes, and kernel work not charged to a process)."
    )
    busy = wait_until_idle(NOISY_PCT, args.wait_idle)
    print(f"Machine busy before start (other work): {busy:.0f}% of one core")
    if busy >= NOISY_PCT:
        print("WARNING: the machine is not idle; the results below are affected by other work.")
    if args.sqlite_synchronous:
        print(f"EXPERIMENT: the server runs SQLite with PRAGMA synchronous={args.sqlite_synchronous} (shipped: FULL).")
    if args.serialize_sqlite_writes:
        print("EXPERIMENT: each worker queues its SQLite write transactions on a threading.Lock (not shipped).")

    # SIGTERM (e.g. from a timeout) unwinds like Ctrl+C, so the finally blocks stop gunicorn.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    results: list[PhaseResult] = []
    notes: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="citizen-bench-") as tmp:
        workdir = Path(tmp)
        scratch = None
        try:
            scratch = Scratch(args.database, workdir, args.pg_url)
            env = portal_environment(scratch.url, args.ratelimit_storage)
            if args.sqlite_synchronous:
                env["BENCH_SQLITE_SYNCHRONOUS"] = args.sqlite_synchronous
            if args.serialize_sqlite_writes:
                env["BENCH_SERIALIZE_SQLITE_WRITES"] = "1"
            pool = Pool()
            for index, spec in enumerate(args.server_specs, 1):
                print(f"\nServer {spec.text}: {spec.describe()}", flush=True)
                log_path = workdir / f"gunicorn-{index}.log"
                experiment = bool(args.sqlite_synchronous or args.serialize_sqlite_writes)
                server = Server(spec, env, log_path, experiment=experiment)
                try:
                    server.wait_ready()
                    results += asyncio.run(run_server_plan(args, server, pool))
                finally:
                    server.stop()
                    log_lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
                    notes.append(
                        f"{spec.text}: {len(server.workers_seen)} worker processes seen (recycling included), "
                        f"{len(log_lines)} gunicorn/app log lines at warning or above"
                    )
                    if log_lines:
                        notes.append("  last log lines:\n    " + "\n    ".join(log_lines[-5:]))
                    if args.log_dir:
                        args.log_dir.mkdir(parents=True, exist_ok=True)
                        (args.log_dir / f"gunicorn-{args.database}-{index}-{spec.text}.log").write_bytes(log_path.read_bytes())
            cases = scratch.case_count()
            if cases is not None:
                notes.append(f"cases in the database at the end: {cases}")
        except KeyboardInterrupt:
            print("\ninterrupted: stopping the server and dropping the database", file=sys.stderr)
            return 130
        finally:
            if scratch is not None:
                scratch.drop()
            signal.signal(signal.SIGTERM, previous)

    print(f"\nResults ({args.database}, {args.duration:g} s per phase; 100% CPU = one core of {machine['cpus']}):\n")
    print(table(results))
    print(
        f"\nTargets at {TARGET_CLIENTS} clients: report submissions >= {TARGET_RPS['submit']}/s, status checks >= "
        f"{TARGET_RPS['status']}/s, p99 < {TARGET_P99_MS:.0f} ms and zero errors in every scenario."
    )
    noisy = [r for r in results if r.other_cpu_pct >= NOISY_PCT]
    if noisy:
        print(
            f"WARNING: other work used >= {NOISY_PCT:.0f}% of a core during "
            + ", ".join(f"{r.server}/{r.clients}/{r.scenario} ({r.other_cpu_pct:.0f}%)" for r in noisy)
            + ": those rows understate what the portal can do; run them again on an idle machine."
        )
    for note in notes:
        print(note)
    print(f"Wall time: {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine,
                    "database": args.database,
                    "sqlite_synchronous": args.sqlite_synchronous,
                    "serialize_sqlite_writes": args.serialize_sqlite_writes,
                    "ratelimit_storage": args.ratelimit_storage or "memory://",
                    "duration": args.duration,
                    "warmup": args.warmup,
                    "connect": args.connect,
                    "results": [
                        asdict(result)
                        | {
                            "verdict": result.verdict(),
                            "worker_split": result.worker_split,
                            "cpu_ms_per_request": round(result.cpu_ms_per_request, 2),
                        }
                        for result in results
                    ],
                    "notes": notes,
                    "busy_before_start_pct": round(busy, 1),
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
