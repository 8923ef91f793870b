"""Evidence files end to end: a large upload and its download through gunicorn, timed, with the worker's memory.

    .venv/bin/python tests/bench/attachments.py [--size-mb 100] [--database sqlite|postgresql|both] [--runs 3]

Targets: at least 150 MB/s end to end in each direction, and the worker's RSS growing by at most 32 MB
while it serves a file. Sizes and rates are in MiB (2**20 bytes): a "100 MB" file is 100 MiB.

What it does, for each database, from scratch:

1. makes a fresh database (an SQLite file in a temporary directory, or a new schema in PostgreSQL,
   dropped at the end), migrates it (`portal.migrate.upgrade`) and makes an intake key pair in memory;
2. starts `gunicorn -c config/gunicorn/citizen.py --workers 1 wsgi:citizen` on a free loopback port
   (PORTAL_ENV=production, COOKIE_SECURE=false, rate limiting off, the per-file limit raised to the
   file's size). One worker, so whose RSS grows is not in doubt; the environment is rebuilt from
   scratch rather than merged (unlike `tests.servers.gunicorn`) so no CITIZEN_/ATTACHMENT_ setting
   of the caller's shell leaks in;
3. warms the worker up with a 1 MiB upload and download, then reads its VmRSS: the baseline;
4. `--runs` times: uploads a file of random bytes (not an image, so it is stored as sent) with a valid
   report, streaming the multipart body in 1 MiB pieces after a Content-Length computed in advance,
   timed from the first byte sent to the whole response read; then looks the receipt up, posts the
   file's download form and reads the response in 1 MiB reads, checking its SHA-256;
5. during each transfer a thread samples the worker's VmRSS every 10 ms, and VmHWM (the kernel's own
   peak, which catches what falls between samples) is reset to the current RSS before it (`5` written
   to /proc/<pid>/clear_refs) and read after; growth is either peak minus the warm-up baseline. The CPU
   time of the worker, PostgreSQL, this client and the rest of the machine is counted too: the machine
   is shared, so each transfer waits for an idle machine and is done again if other work disturbed it;
6. prints a table and the verdict against both targets, and always stops gunicorn and drops the schema.

`--profile` instead runs one upload and one download in-process (Flask test client, same settings)
under cProfile, then again under tracemalloc, and prints where the time and the Python memory go.

This is a script, not a pytest test: its name does not match `test_*.py` and it defines no tests.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import http.client
import io
import math
import os
import platform
import pstats
import re
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlencode

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from crypto.keys import generate_keypair, public_key_b64
from portal import create_citizen_app
from portal.migrate import upgrade
from tests.helpers import CSRF_PATTERN, RECEIPT_PATTERN, VALID_REPORT

DEFAULT_PG_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
HOST = "127.0.0.1"
MIB = 2**20
PIECE = MIB  # what the client sends or reads at a time
SAMPLE_SECONDS = 0.01
TARGET_MIB_S = 150.0
TARGET_GROWTH_MIB = 32.0
WARMUP_BYTES = MIB
DOWNLOAD_PATTERN = re.compile(r'action="(/vi/status/files/\d+)"')
FILE_NAME = "ghi-am-cuoc-hop.m4a"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Who used the CPU during a transfer; "other" is the rest of the machine (it is shared).
CPU_PARTS = ("worker", "postgres", "client", "other")
# A transfer during which other work took more than this share of a core is done again (--retries); before
# each transfer the machine must be busy less than IDLE_SHARE of a core (waiting IDLE_WAIT_SECONDS at most).
DISTURBED_SHARE = 0.15
DISTURBED_FLOOR = 0.05  # seconds: /proc counts CPU time in 10 ms ticks
IDLE_SHARE = 0.10
IDLE_WAIT_SECONDS = 300


# --------------------------------------------------------------------------------------------------
# The worker's memory, from /proc


def status_kib(pid: int, name: str) -> int:
    """A `VmRSS`/`VmHWM` line of /proc/<pid>/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise LookupError(f"no {name} for process {pid}")


def children(parent: int) -> list[int]:
    """Processes whose parent is `parent` (psutil is not installed: field 4 of /proc/*/stat)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(stat[stat.rfind(")") + 2 :].split()[1]) == parent:
            found.append(int(entry.name))
    return found


def reset_hwm(pid: int) -> bool:
    """Set VmHWM back to the current VmRSS ("5" to clear_refs, Linux >= 4.0), so that it then holds the peak of
    one transfer only; False where that is not allowed, and VmHWM is the peak of the worker's whole life."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def postgres_seconds() -> float:
    """CPU seconds of the live `postgres` processes: the worker's pooled backend, the WAL writer, the checkpointer."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core), from the first line of /proc/stat."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK


def self_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Watch:
    """While a transfer runs: the worker's VmRSS sampled every 10 ms from a thread, VmHWM before and after,
    and who used the CPU (the worker, PostgreSQL, this client, anything else: the machine is shared)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rss_before = self.peak_rss = self.hwm_before = self.hwm_after = 0
        self.samples = 0
        self.hwm_reset = False
        self.cpu: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _cpu(self) -> dict[str, float]:
        return {
            "worker": cpu_seconds(self.pid),
            "postgres": postgres_seconds(),
            "client": self_seconds(),
            "machine": machine_busy_seconds(),
        }

    def __enter__(self) -> Self:
        self.hwm_reset = reset_hwm(self.pid)
        self.hwm_before = status_kib(self.pid, "VmHWM")
        self.rss_before = self.peak_rss = status_kib(self.pid, "VmRSS")
        self.cpu = self._cpu()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.hwm_after = status_kib(self.pid, "VmHWM")
        after = self._cpu()
        self.cpu = {name: after[name] - self.cpu[name] for name in after}
        self.cpu["other"] = max(
            0.0, self.cpu.pop("machine") - self.cpu["worker"] - self.cpu["postgres"] - self.cpu["client"]
        )

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.peak_rss = max(self.peak_rss, status_kib(self.pid, "VmRSS"))
            self.samples += 1


# --------------------------------------------------------------------------------------------------
# Database and server


@contextmanager
def scratch_database(kind: str, workdir: Path, pg_url: str) -> Iterator[str]:
    """A migrated, empty database URL: an SQLite file in `workdir` or a new PostgreSQL schema, always dropped."""
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'portal.db'}"
        upgrade(url)
        yield url
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    engine = create_engine(pg_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        url = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}"
        upgrade(url)
        yield url
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()


def portal_environment(database_url: str, size: int) -> dict[str, str]:
    """The caller's environment without any portal setting, plus production settings for this benchmark."""
    prefixes = ("CITIZEN_", "REVIEWER_", "RATELIMIT_", "ATTACHMENT_", "DATABASE_URL", "INTAKE_", "RECEIPT_")
    env = {name: value for name, value in os.environ.items() if not name.startswith(prefixes)}
    file_mib = max(50, math.ceil(size / MIB))
    env.update(
        {
            "PORTAL_ENV": "production",
            "DATABASE_URL": database_url,
            "INTAKE_PUBLIC_KEY": public_key_b64(generate_keypair().public),
            "CITIZEN_SECRET_KEY": secrets.token_urlsafe(48),
            "RECEIPT_PEPPER": secrets.token_urlsafe(48),
            "COOKIE_SECURE": "false",
            "RATELIMIT_ENABLED": "false",
            "ATTACHMENT_FILE_MB": str(file_mib),
            "ATTACHMENT_SUBMISSION_MB": str(max(200, file_mib)),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


@dataclass
class Server:
    port: int
    master: int
    log_path: Path

    def worker(self) -> int:
        """The one worker: the master's only child."""
        workers = children(self.master)
        if len(workers) != 1:
            raise RuntimeError(f"expected one gunicorn worker, found {workers}")
        return workers[0]

    def log_lines(self) -> list[str]:
        """What gunicorn and the app logged (at warning and above: config/gunicorn/citizen.py)."""
        return [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def gunicorn(env: dict[str, str], log_path: Path) -> Iterator[Server]:
    """gunicorn with ONE worker in its own process group; SIGTERM, then SIGKILL of the group, always."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "--config", str(ROOT / "config" / "gunicorn" / "citizen.py"),
        "--bind", f"{HOST}:{port}", "--workers", "1", "wsgi:citizen",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            try:
                connection = http.client.HTTPConnection(HOST, port, timeout=5)
                connection.request("GET", "/vi/")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        yield Server(port, process.pid, log_path)
    except Exception:
        print("gunicorn's log ends:", *log_path.read_text(errors="replace").splitlines()[-15:], sep="\n  ")
        raise
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(25)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


# --------------------------------------------------------------------------------------------------
# Client


def report_fields(token: str) -> list[tuple[str, str]]:
    """tests.helpers.VALID_REPORT as a browser sends it (a list becomes repeated fields)."""
    fields = [("csrf_token", token)]
    for name, value in VALID_REPORT.items():
        fields += [(name, item) for item in value] if isinstance(value, list) else [(name, value)]
    return fields


def multipart_frame(fields: list[tuple[str, str]], file_name: str, boundary: str) -> tuple[bytes, bytes]:
    """What goes before and after the file's bytes in a multipart body with text fields and one `files` part."""
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n' for name, value in fields
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{file_name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    return head.encode(), f"\r\n--{boundary}--\r\n".encode()


def body_pieces(head: bytes, content: memoryview, tail: bytes) -> Iterator[bytes | memoryview]:
    """The multipart body in 1 MiB pieces, as a browser streams a file from disk."""
    yield head
    for start in range(0, len(content), PIECE):
        yield content[start : start + PIECE]
    yield tail


class Browser:
    """One reporter's browser: its own cookie jar (the CSRF token is tied to the session cookie)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def _connect(self, method: str, path: str, headers: dict[str, str]) -> http.client.HTTPConnection:
        """A new connection (the sync worker closes each one) with the request line and headers queued."""
        connection = http.client.HTTPConnection(HOST, self.port, timeout=600)
        connection.putrequest(method, path)
        for name, value in {**headers, "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}.items():
            connection.putheader(name, value)
        return connection

    def _response(self, connection: http.client.HTTPConnection) -> http.client.HTTPResponse:
        response = connection.getresponse()
        for cookie in response.msg.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value
        return response

    def page(self, method: str, path: str, fields: dict[str, str] | None = None) -> tuple[int, str]:
        body = urlencode(fields or {}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(body))}
        connection = self._connect(method, path, headers if fields is not None else {})
        connection.endheaders(body if fields is not None else None)
        response = self._response(connection)
        text = response.read().decode()
        connection.close()
        return response.status, text

    def token(self, path: str = "/vi/report") -> str:
        status, page = self.page("GET", path)
        match = CSRF_PATTERN.search(page)
        if status != 200 or not match:
            raise RuntimeError(f"no CSRF token on {path} (HTTP {status})")
        return match.group(1)

    def upload(self, token: str, content: memoryview) -> tuple[float, str]:
        """File a report with `content` as its one file: (seconds from first byte sent to response read, receipt)."""
        boundary = "----bench" + secrets.token_hex(16)
        head, tail = multipart_frame(report_fields(token), FILE_NAME, boundary)
        connection = self._connect(
            "POST",
            "/vi/report",
            {
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + len(content) + len(tail)),
            },
        )
        started = time.perf_counter()
        connection.endheaders()
        for piece in body_pieces(head, content, tail):
            connection.send(piece)
        response = self._response(connection)
        page = response.read().decode()
        elapsed = time.perf_counter() - started
        connection.close()
        match = RECEIPT_PATTERN.search(page)
        if response.status != 201 or not match:
            raise RuntimeError(f"upload refused: HTTP {response.status}\n{page[:2000]}")
        return elapsed, match.group(1)

    def download_form(self, receipt: str) -> tuple[str, dict[str, str]]:
        """The status page's one download form: its action and fields (CSRF token, receipt)."""
        status, page = self.page("POST", "/vi/status", {"csrf_token": self.token("/vi/status"), "receipt": receipt})
        action, token = DOWNLOAD_PATTERN.search(page), CSRF_PATTERN.search(page)
        if status != 200 or not action or not token:
            raise RuntimeError(f"no download form on the status page (HTTP {status})")
        return action.group(1), {"csrf_token": token.group(1), "receipt": receipt}

    def download(self, action: str, fields: dict[str, str]) -> tuple[float, str]:
        """(seconds from the first byte sent to the last byte read, SHA-256 of the body), reading 1 MiB at a time."""
        body = urlencode(fields).encode()
        connection = self._connect(
            "POST", action, {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(body))}
        )
        started = time.perf_counter()
        connection.endheaders(body)
        response = self._response(connection)
        if response.status != 200 or response.getheader("Content-Type") != "application/octet-stream":
            raise RuntimeError(f"download refused: HTTP {response.status} {response.getheader('Content-Type')}")
        digest, buffer = hashlib.sha256(), memoryview(bytearray(PIECE))
        while count := response.readinto(buffer):
            digest.update(buffer[:count])
        elapsed = time.perf_counter() - started
        connection.close()
        return elapsed, digest.hexdigest()


# --------------------------------------------------------------------------------------------------
# Measurement


@dataclass(frozen=True)
class Transfer:
    database: str
    direction: str
    mib: float
    baseline_kib: int  # the worker's VmRSS after the warm-up
    seconds: float
    watch: Watch

    @property
    def rate(self) -> float:
        return self.mib / self.seconds

    @property
    def sampled_growth_mib(self) -> float:
        return (self.watch.peak_rss - self.baseline_kib) / 1024

    @property
    def hwm_growth_mib(self) -> float:
        return (self.watch.hwm_after - self.baseline_kib) / 1024

    @property
    def disturbed(self) -> bool:
        return disturbed(self.watch, self.seconds)

    def describe(self) -> str:
        watch = self.watch
        return (
            f"{self.direction:<8} {self.rate:7.1f} MiB/s ({self.seconds:.2f} s)  VmRSS before "
            f"{watch.rss_before / 1024:6.1f}, sampled peak {watch.peak_rss / 1024:6.1f} ({watch.samples} samples), "
            f"VmHWM{' reset to' if watch.hwm_reset else ''} {watch.hwm_before / 1024:6.1f} -> "
            f"{watch.hwm_after / 1024:6.1f} MiB; CPU s "
            + " / ".join(f"{watch.cpu[name]:.2f}" for name in CPU_PARTS)
            + ("  DISTURBED by other work" if self.disturbed else "")
        )


def disturbed(watch: Watch, seconds: float) -> bool:
    return watch.cpu["other"] > max(DISTURBED_SHARE * seconds, DISTURBED_FLOOR)


def machine_busy_share(seconds: float) -> float:
    """How busy the machine is over `seconds`, in cores."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    return (machine_busy_seconds() - before) / seconds


def timed(step: Callable[[], tuple[float, str]], worker: int, retries: int) -> tuple[float, str, Watch]:
    """Run `step` (it returns its seconds and a result) on an idle machine, watched; again if other work took
    more than DISTURBED_SHARE of a core meanwhile (the machine is shared: test suites run on it)."""
    for attempt in range(retries + 1):
        deadline = time.monotonic() + IDLE_WAIT_SECONDS
        while machine_busy_share(0.5) > IDLE_SHARE and time.monotonic() < deadline:
            pass
        with Watch(worker) as watch:
            seconds, result = step()
        if not disturbed(watch, seconds) or attempt == retries:
            break
        print(f"  (disturbed: other work used {watch.cpu['other']:.2f} s of CPU in {seconds:.2f} s; again)", flush=True)
    return seconds, result, watch


def measure(database: str, args: argparse.Namespace, content: memoryview, sha256: str) -> list[Transfer]:
    """Serve a fresh database with one worker, warm it up, then time `args.runs` uploads and downloads."""
    transfers: list[Transfer] = []
    mib = len(content) / MIB
    with (
        tempfile.TemporaryDirectory(prefix="attachments-bench-") as tmp,
        scratch_database(database, Path(tmp), args.pg_url) as url,
    ):
        log_path = Path(tmp) / "gunicorn.log"
        with gunicorn(portal_environment(url, len(content)), log_path) as server:
            browser = Browser(server.port)
            worker = server.worker()
            token = browser.token()
            warmup = os.urandom(WARMUP_BYTES)
            _, receipt = browser.upload(token, memoryview(warmup))
            if browser.download(*browser.download_form(receipt))[1] != hashlib.sha256(warmup).hexdigest():
                raise RuntimeError("the warm-up file came back different")
            baseline = status_kib(worker, "VmRSS")
            print(f"\n{database}: worker {worker}, VmRSS after warm-up {baseline / 1024:.1f} MiB", flush=True)
            for run in range(1, args.runs + 1):
                seconds, receipt, watch = timed(partial(browser.upload, token, content), worker, args.retries)
                transfers.append(Transfer(database, "upload", mib, baseline, seconds, watch))
                print(f"  run {run} {transfers[-1].describe()}", flush=True)
                action, fields = browser.download_form(receipt)
                seconds, digest, watch = timed(partial(browser.download, action, fields), worker, args.retries)
                if digest != sha256:
                    raise RuntimeError(f"run {run}: the file came back different")
                transfers.append(Transfer(database, "download", mib, baseline, seconds, watch))
                print(f"  run {run} {transfers[-1].describe()}", flush=True)
            if server.worker() != worker:
                raise RuntimeError("the worker was replaced during the run: its memory figures are not comparable")
            logged = server.log_lines()
            if logged:
                print("  gunicorn log:", *logged[-10:], sep="\n    ")
    return transfers


def table(transfers: list[Transfer]) -> str:
    rows = [
        (
            "| database | direction | MiB/s, each run | MiB/s, median | worker RSS baseline MiB "
            "| peak growth MiB, sampled VmRSS | peak growth MiB, VmHWM after - baseline "
            f"| CPU s, median: {' / '.join(CPU_PARTS)} |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for (database, direction), group in grouped(transfers).items():
        rows.append(
            f"| {database} | {direction} | {' / '.join(f'{t.rate:.0f}' + '*' * t.disturbed for t in group)} "
            f"| **{statistics.median(t.rate for t in group):.0f}** | {group[0].baseline_kib / 1024:.1f} "
            f"| {' / '.join(f'{t.sampled_growth_mib:.1f}' for t in group)} "
            f"| {' / '.join(f'{t.hwm_growth_mib:.1f}' for t in group)} "
            f"| {' / '.join(f'{statistics.median(t.watch.cpu[name] for t in group):.2f}' for name in CPU_PARTS)} |"
        )
    return "\n".join(rows)


def grouped(transfers: list[Transfer]) -> dict[tuple[str, str], list[Transfer]]:
    groups: dict[tuple[str, str], list[Transfer]] = {}
    for transfer in transfers:
        groups.setdefault((transfer.database, transfer.direction), []).append(transfer)
    return groups


def verdicts(transfers: list[Transfer]) -> list[str]:
    """Per database and direction: the median rate against 150, the worst growth of any run against 32."""
    lines = []
    for (database, direction), group in grouped(transfers).items():
        rate = statistics.median(t.rate for t in group)
        growth = max(max(t.sampled_growth_mib, t.hwm_growth_mib) for t in group)
        lines.append(
            f"{database} {direction}: {rate:.0f} MiB/s vs >= {TARGET_MIB_S:.0f}: "
            f"{'met' if rate >= TARGET_MIB_S else 'MISSED'}; worst RSS growth {growth:.1f} MiB vs <= "
            f"{TARGET_GROWTH_MIB:.0f}: {'met' if growth <= TARGET_GROWTH_MIB else 'MISSED'}"
        )
    return lines


# --------------------------------------------------------------------------------------------------
# In-process profile


def profile(database: str, args: argparse.Namespace, content: bytes) -> None:
    """One upload and one download through the Flask test client, under cProfile, then under tracemalloc."""
    with (
        tempfile.TemporaryDirectory(prefix="attachments-profile-") as tmp,
        scratch_database(database, Path(tmp), args.pg_url) as url,
    ):
        env = portal_environment(url, len(content))
        app = create_citizen_app(env)
        client = app.test_client()
        token = CSRF_PATTERN.search(client.get("/vi/report").get_data(as_text=True))
        assert token
        boundary = "----bench" + secrets.token_hex(16)
        head, tail = multipart_frame(report_fields(token.group(1)), FILE_NAME, boundary)
        body = head + content + tail  # built once: not counted in the upload's memory

        def upload() -> str:
            response = client.post(
                "/vi/report",
                input_stream=io.BytesIO(body),
                content_type=f"multipart/form-data; boundary={boundary}",
                content_length=len(body),
            )
            receipt = RECEIPT_PATTERN.search(response.get_data(as_text=True))
            assert response.status_code == 201 and receipt, response.status_code
            return receipt.group(1)

        def download(receipt: str) -> None:
            fields = {"csrf_token": token.group(1), "receipt": receipt}
            action = DOWNLOAD_PATTERN.search(client.post("/vi/status", data=fields).get_data(as_text=True))
            assert action
            response = client.post(action.group(1), data=fields, buffered=False)
            for _piece in response.response:
                pass
            response.close()

        download(upload())  # warm-up
        receipt = profiled(f"{database} upload", upload)
        profiled(f"{database} download", lambda: download(receipt))
        app.extensions["portal_db"].dispose()


def profiled(name: str, step: Callable[[], Any]) -> Any:
    """Run `step` under cProfile (its result is returned), then again under tracemalloc; print both."""
    profiler = cProfile.Profile()
    started = time.perf_counter()
    result = profiler.runcall(step)
    seconds = time.perf_counter() - started
    print(f"\n{name}, in-process under cProfile: {seconds:.2f} s; top functions by own time:")
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(14)
    report = stream.getvalue()
    print(report[report.index("ncalls") - 3 :].rstrip())
    tracemalloc.start(25)
    started = time.perf_counter()
    step()
    seconds = time.perf_counter() - started
    current, peak = tracemalloc.get_traced_memory()
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    print(f"{name} under tracemalloc: {seconds:.2f} s, Python peak {peak / MIB:.1f} MiB, "
          f"{current / MIB:.1f} MiB still held after; largest live allocations:")  # fmt: skip
    for stat in snapshot.statistics("lineno")[:5]:
        print(f"    {stat.size / MIB:6.2f} MiB  {stat.traceback}")
    return result


# --------------------------------------------------------------------------------------------------


def machine() -> str:
    import gunicorn as gunicorn_package

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "unknown CPU",
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", "portal", "crypto", "config", "wsgi.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1::2]
    return (
        f"Machine: {os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, gunicorn "
        f"{gunicorn_package.__version__}, kernel {platform.release()}\nCommit: {commit.strip()}"
        + (f", working tree with uncommitted changes to {', '.join(changed)}" if changed else ", clean working tree")
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=100, help="file size in MiB (default 100)")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--runs", type=int, default=3, help="uploads and downloads per database (default 3)")
    parser.add_argument("--retries", type=int, default=3, help="repeat a transfer disturbed by other work (default 3)")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help=f"PostgreSQL server (default {DEFAULT_PG_URL})")
    parser.add_argument("--profile", action="store_true", help="profile one transfer each way in-process instead")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    databases = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    print(machine(), flush=True)
    content = os.urandom(int(args.size_mb * MIB))
    if args.profile:
        for database in databases:
            profile(database, args, content)
        return 0
    sha256 = hashlib.sha256(content).hexdigest()
    print(f"File: {len(content) / MIB:.1f} MiB of random bytes, SHA-256 {sha256[:16]}..., {args.runs} runs each way")
    transfers: list[Transfer] = []
    for database in databases:
        transfers += measure(database, args, memoryview(content), sha256)
    print("\n" + table(transfers) + "\n")
    if any(transfer.disturbed for transfer in transfers):
        print(f"* disturbed by other work even after {args.retries} retries: slower than the code can do\n")
    print("\n".join(verdicts(transfers)))
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))  # unwind: stop gunicorn, drop the schema
    sys.exit(main())
