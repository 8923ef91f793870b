"""Soak benchmark: both apps under gunicorn, an open-loop mixed load for minutes, per-minute stability.

    .venv/bin/python tests/bench/soak.py [--database sqlite|postgresql] [--duration 600] [--rate R]
                                         [--status-per-submit 2] [--queue-rate 5] [--inspectors 3]

Why open loop: a closed-loop client slows down with the server and so hides overload. Here arrivals
are scheduled at fixed times whatever the server does; a request that finds all of its app's client
connections busy is not started and is counted as *shortfall*, and latency runs from the scheduled
time, so a late start shows in the numbers instead of silently lowering the offered rate.

What it does, from scratch every run (database, key pair and environment from tests/bench/citizen_load.py):

1. a fresh SQLite file (or PostgreSQL schema), migrated, with an intake key pair;
2. `gunicorn -c config/gunicorn/citizen.py wsgi:citizen` and `gunicorn -c config/gunicorn/reviewer.py
   wsgi:reviewer`, PORTAL_ENV=production, the configs' default workers, rate limits raised so they never
   refuse (every client is 127.0.0.1);
3. lead inspectors made with `flask inspectors add --json`, each doing its first login over HTTP
   (one-time password, then a new password and a TOTP code from pyotp);
4. without --rate: a 20 s closed-loop burst of the same mix (32 clients) measures the peak submission
   rate, and the soak offers 80% of it; with --rate: that many submissions/s;
5. for --duration seconds: submissions at the rate, status checks (receipts filed earlier) at
   --status-per-submit times it, queue pages (`/vi/cases?page=N`) at --queue-rate; each minute the
   RSS of every gunicorn worker of both apps is sampled;
6. prints a per-minute table and three verdicts: zero errors, p99 stable, worker memory flat.

A script, not a pytest test.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pyotp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.citizen_load import (
    CSRF_RE,
    DEFAULT_PG_URL,
    HOST,
    NO_LIMIT,
    ROOT,
    Client,
    HttpError,
    Pool,
    Scratch,
    Server,
    ServerSpec,
    children,
    flask_command,
    free_port,
    machine_summary,
    memory_kib,
    percentile,
    portal_environment,
    report_form,
    seed_receipts,
    self_cpu,
    server_cpu,
    system_cpu,
)

REVIEWER_CONFIG = ROOT / "config" / "gunicorn" / "reviewer.py"
DOCUMENTED_PEAK = {"sqlite": 141.0, "postgresql": 146.0}  # docs/BENCHMARKS.md, 32 clients, submissions only
KINDS = ("submit", "status", "queue")
REQUEST_TIMEOUT = 30.0
REVIEWER_COOKIE_RE = re.compile(r"reviewer_session=([^;]*)")
SETUP_KEY_RE = re.compile(r'<code class="secret">([A-Z2-7 ]+)</code>')
PASSWORD = "soak benchmark password 2026"


# --------------------------------------------------------------------------------------------------
# Reviewer app: server, accounts, client


class ReviewerServer(Server):
    """citizen_load.Server runs wsgi:citizen; the same lifecycle (process group, bounded stop) for wsgi:reviewer."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.spec = ServerSpec.parse("default")
        self.port = free_port()
        self.log_path = log_path
        command = [sys.executable, "-m", "gunicorn", "--config", str(REVIEWER_CONFIG), "--bind", f"{HOST}:{self.port}"]
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [*command, "wsgi:reviewer"], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.workers_seen: set[int] = set()
        self.peak_hwm_kib = 0

    def wait_ready(self, timeout: float = 60.0) -> None:
        """The reviewer's /vi/ redirects to the login page, so wait for the login page itself."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"reviewer gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                connection = http.client.HTTPConnection(HOST, self.port, timeout=5)
                connection.request("GET", "/vi/login")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"reviewer gunicorn did not answer within {timeout:.0f} s:\n{self.log_tail()}")


def first_login(port: int, username: str, one_time_password: str) -> str:
    """What a new inspector does once: log in with the one-time password, then choose a password and
    enrol the authenticator key the setup page shows. Returns the reviewer_session cookie of the full session."""
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    cookie = ""

    def call(method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        nonlocal cookie
        headers = {"Accept": "text/html", **({"Cookie": f"reviewer_session={cookie}"} if cookie else {})}
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=urlencode(form) if form else None, headers=headers)
        response = connection.getresponse()
        body = response.read().decode("utf-8", errors="replace")
        for value in response.headers.get_all("Set-Cookie") or []:
            match = REVIEWER_COOKIE_RE.search(value)
            if match:
                cookie = match.group(1)
        return response.status, body

    def token(path: str) -> str:
        status, page = call("GET", path)
        match = CSRF_RE.search(page.encode())
        if status != 200 or match is None:
            raise RuntimeError(f"no form on {path} (HTTP {status})")
        return match.group(1).decode()

    form = {"csrf_token": token("/vi/login"), "username": username, "password": one_time_password, "code": ""}
    status, _ = call("POST", "/vi/login", form)
    if status != 302:
        raise RuntimeError(f"{username}: first login answered HTTP {status}")
    status, page = call("GET", "/vi/setup")
    key = SETUP_KEY_RE.search(page)
    if status != 200 or key is None:
        raise RuntimeError(f"{username}: no authenticator key on the setup page (HTTP {status})")
    code = pyotp.TOTP(key.group(1).replace(" ", "")).now()
    form = {"csrf_token": token("/vi/setup"), "new_password": PASSWORD, "confirm": PASSWORD, "code": code}
    status, _ = call("POST", "/vi/setup", form)
    if status != 302:
        raise RuntimeError(f"{username}: setup answered HTTP {status}")
    status, _ = call("GET", "/vi/cases")
    if status != 200:
        raise RuntimeError(f"{username}: the queue after setup answered HTTP {status}")
    connection.close()
    return cookie


class ReviewerClient(Client):
    """citizen_load.Client with the reviewer's session cookie (set once, after login)."""

    def _cookie_header(self) -> bytes:
        return b"Cookie: reviewer_session=" + self.cookie + b"\r\n" if self.cookie else b""


# --------------------------------------------------------------------------------------------------
# Measurements


@dataclass
class Minute:
    """What happened to the requests scheduled in one minute, and the workers' RSS at its end."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    ok: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    shortfall: Counter[str] = field(default_factory=Counter)
    scheduled: Counter[str] = field(default_factory=Counter)
    late_ms: list[float] = field(default_factory=list)
    rss: dict[str, list[int]] = field(default_factory=dict)  # app -> RSS KiB of each live worker
    new_workers: dict[str, int] = field(default_factory=dict)  # app -> workers first seen this minute
    cpu_pct: dict[str, float] = field(default_factory=dict)


def sample_rss(server: Server) -> tuple[list[int], int]:
    """VmRSS of each live worker, and how many of them were not seen before (recycled by max_requests)."""
    pids = children(server.pid)
    new = [pid for pid in pids if pid not in server.workers_seen]
    server.workers_seen.update(pids)
    return [memory_kib(pid, "VmRSS") for pid in pids], len(new)


# --------------------------------------------------------------------------------------------------
# Load


class Load:
    """Connection pools for both apps and the code of one request of each kind."""

    def __init__(self, citizen: list[Client], reviewers: list[ReviewerClient], pool: Pool) -> None:
        self.free: dict[str, list[Client]] = {"submit": citizen, "status": citizen, "queue": list(reviewers)}
        self.pool = pool
        self.queue_pages = 1

    async def one(self, kind: str, conn: Client) -> str | None:
        """One request on `conn`; None if it succeeded, else the kind of error."""
        if kind == "submit":
            raw = conn.post("/vi/report", report_form(conn.token))
        elif kind == "status":
            receipt = random.choice(self.pool.receipts)
            raw = conn.post("/vi/status", {"csrf_token": conn.token, "receipt": receipt})
        else:
            raw = conn.get(f"/vi/cases?page={random.randint(1, self.queue_pages)}")
        try:
            status, body = await asyncio.wait_for(conn.request(raw), REQUEST_TIMEOUT)
        except TimeoutError:
            await conn.close()
            return f"timeout (>{REQUEST_TIMEOUT:.0f} s)"
        except (HttpError, ConnectionError, OSError) as exc:
            await conn.close()
            return str(exc) if isinstance(exc, HttpError) else type(exc).__name__
        if not 200 <= status < 400:
            return f"HTTP {status}"
        if kind == "submit" and not self.pool.add_from(body):
            return "submission without receipt"
        if kind == "queue" and status != 200:
            return f"queue HTTP {status} (session lost?)"
        return None


async def closed_loop_peak(load: Load, citizen: list[Client], ratio: int, seconds: float) -> float:
    """Submissions/s when every citizen connection loops on the mix (1 submission, `ratio` status checks)
    as fast as the server answers: the peak of this mix, which the open-loop rate is a fraction of."""
    stop_at = time.perf_counter() + seconds
    done = Counter[str]()

    async def loop(conn: Client) -> None:
        while time.perf_counter() < stop_at:
            for kind in ("submit", *("status",) * ratio):
                if await load.one(kind, conn) is None:
                    done[kind] += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(conn) for conn in citizen))
    elapsed = time.perf_counter() - started
    print(f"  closed loop, {len(citizen)} clients, {elapsed:.0f} s: " + ", ".join(
        f"{kind} {count / elapsed:.1f}/s" for kind, count in done.items()), flush=True)  # fmt: skip
    return done["submit"] / elapsed


async def open_loop(load: Load, rates: dict[str, float], duration: float, servers: dict[str, Server]) -> list[Minute]:
    """Start each request at its scheduled time (evenly spaced per kind) on a free connection, or count it
    as shortfall; sample every worker's RSS at the end of each minute."""
    minutes = [Minute() for _ in range(max(1, int(-(-duration // 60))))]
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.5
    in_flight: set[asyncio.Task[None]] = set()
    cpu_mark = {app: server_cpu(server.pid)[0] for app, server in servers.items()} | {"client": self_cpu()}
    machine_mark = system_cpu()

    async def run(kind: str, conn: Client, scheduled: float, minute: Minute) -> None:
        try:
            problem = await load.one(kind, conn)
        finally:
            load.free[kind].append(conn)
        elapsed = loop.time() - scheduled  # from the scheduled time: a late start counts
        minute.latencies[kind].append(elapsed)
        if problem is None:
            minute.ok[kind] += 1
        else:
            minute.errors[f"{kind}: {problem}"] += 1

    async def arrivals(kind: str, rate: float) -> None:
        if rate <= 0:
            return
        interval = 1.0 / rate
        n = 0
        while True:
            scheduled = start + n * interval
            if scheduled - start >= duration:
                return
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            minute = minutes[min(len(minutes) - 1, int((scheduled - start) // 60))]
            minute.scheduled[kind] += 1
            minute.late_ms.append(max(0.0, loop.time() - scheduled) * 1000)
            if load.free[kind]:
                task = asyncio.ensure_future(run(kind, load.free[kind].pop(), scheduled, minute))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            else:
                minute.shortfall[kind] += 1  # every connection busy: not started on time
            n += 1

    async def sampler() -> None:
        nonlocal machine_mark
        for index, minute in enumerate(minutes):
            end = start + min(duration, 60 * (index + 1))
            await asyncio.sleep(max(0.0, end - loop.time()))
            spent = loop.time() - (start + 60 * index)
            for app, server in servers.items():
                minute.rss[app], minute.new_workers[app] = sample_rss(server)
                cpu = server_cpu(server.pid)[0]
                minute.cpu_pct[app] = 100 * (cpu - cpu_mark[app]) / spent
                cpu_mark[app] = cpu
            minute.cpu_pct["client"] = 100 * (self_cpu() - cpu_mark["client"]) / spent
            cpu_mark["client"] = self_cpu()
            busy, total = system_cpu()
            machine = 100 * (os.cpu_count() or 1) * (busy - machine_mark[0]) / max(1, total - machine_mark[1])
            machine_mark = (busy, total)
            minute.cpu_pct["other"] = max(0.0, machine - sum(minute.cpu_pct.values()))
            summary = summarise(minute, index, spent)
            print(summary, flush=True)
            load.queue_pages = max(1, (sum(m.ok["submit"] for m in minutes) + len(load.pool.receipts)) // 200)

    for server in servers.values():
        sample_rss(server)  # the workers alive at the start are not "new"
    await asyncio.gather(sampler(), *(arrivals(kind, rate) for kind, rate in rates.items()))
    if in_flight:
        await asyncio.wait(in_flight, timeout=REQUEST_TIMEOUT + 5)
    return minutes


# --------------------------------------------------------------------------------------------------
# Report


def pct(values: list[float], fraction: float) -> float:
    return percentile(sorted(values), fraction) * 1000 if values else float("nan")


def summarise(minute: Minute, index: int, seconds: float) -> str:
    parts = [f"minute {index + 1:>2}"]
    for kind in KINDS:
        lat = minute.latencies.get(kind, [])
        parts.append(
            f"{kind} {minute.ok[kind] / seconds:6.1f}/s p50/p95/p99 {pct(lat, 0.5):5.0f}/{pct(lat, 0.95):5.0f}/"
            f"{pct(lat, 0.99):5.0f} ms"
        )
    parts.append(f"errors {sum(minute.errors.values())} shortfall {sum(minute.shortfall.values())}")
    for app in ("citizen", "reviewer"):
        rss = minute.rss.get(app, [])
        if rss:
            parts.append(
                f"{app} RSS sum/max {sum(rss) / 1024:.0f}/{max(rss) / 1024:.0f} MiB (+{minute.new_workers[app]})"
            )
    return "  " + " | ".join(parts)


def table(minutes: list[Minute], seconds: list[float]) -> str:
    head = ["min"]
    for kind in KINDS:
        head += [f"{kind}/s", f"{kind} p50/p95/p99 ms"]
    head += ["errors", "shortfall", "citizen RSS sum/max MiB (new workers)", "reviewer RSS sum/max MiB (new)",
             "CPU% citizen/reviewer/client/other"]  # fmt: skip
    rows = [head]
    for index, (minute, spent) in enumerate(zip(minutes, seconds, strict=True)):
        row = [str(index + 1)]
        for kind in KINDS:
            lat = minute.latencies.get(kind, [])
            row += [
                f"{minute.ok[kind] / spent:.1f}",
                f"{pct(lat, 0.5):.0f} / {pct(lat, 0.95):.0f} / {pct(lat, 0.99):.0f}",
            ]
        row += [str(sum(minute.errors.values())), str(sum(minute.shortfall.values()))]
        for app in ("citizen", "reviewer"):
            rss = minute.rss.get(app) or [0]
            row.append(f"{sum(rss) / 1024:.0f} / {max(rss) / 1024:.0f} ({minute.new_workers.get(app, 0)})")
        row.append(
            "/".join(f"{minute.cpu_pct.get(name, 0):.0f}" for name in ("citizen", "reviewer", "client", "other"))
        )
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(cell.rjust(widths[i]) for i, cell in enumerate(row)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    return "\n".join(lines)


def verdicts(minutes: list[Minute], offered: dict[str, float], seconds: list[float]) -> list[str]:
    """Zero errors; p99 stable (last minute within 1.5x of the second, per kind); per-worker RSS flat
    (mean RSS of a worker of each app, last minute within 10% of the second)."""
    lines = []
    errors: Counter[str] = sum((m.errors for m in minutes), Counter())
    shortfall: Counter[str] = sum((m.shortfall for m in minutes), Counter())
    total = sum(sum(m.scheduled.values()) for m in minutes)
    lines.append(f"zero errors: {'YES' if not errors else 'NO'} ({sum(errors.values())} of {total} scheduled)"
                 + (f": {dict(errors)}" if errors else ""))  # fmt: skip
    lines.append(
        f"offered rate sustained: {'YES' if not shortfall else 'NO'} (shortfall {sum(shortfall.values())}"
        f" requests not started on time: {dict(shortfall)})"
    )
    achieved = {kind: sum(m.ok[kind] for m in minutes) / sum(seconds) for kind in KINDS}
    lines.append("offered / achieved per s: " + ", ".join(
        f"{kind} {offered[kind]:.1f} / {achieved[kind]:.1f}" for kind in KINDS))  # fmt: skip
    if len(minutes) < 3:
        lines.append("p99 stable / memory flat: not judged (fewer than 3 minutes)")
        return lines
    second, last = minutes[1], minutes[-1]
    stable = []
    for kind in KINDS:
        before, after = pct(second.latencies.get(kind, []), 0.99), pct(last.latencies.get(kind, []), 0.99)
        stable.append((kind, before, after, after <= 1.5 * before))
    lines.append(f"p99 stable: {'YES' if all(s[3] for s in stable) else 'NO'} (" + ", ".join(
        f"{kind} {b:.0f} -> {a:.0f} ms" for kind, b, a, _ok in stable) + "; last minute vs the second, limit 1.5x)")  # fmt: skip
    flat = []
    for app in ("citizen", "reviewer"):
        before = sum(second.rss[app]) / len(second.rss[app])
        after = sum(last.rss[app]) / len(last.rss[app])
        recycled = sum(m.new_workers[app] for m in minutes[2:])
        flat.append((app, before, after, after <= 1.10 * before, recycled, max(last.rss[app])))
    lines.append(f"memory flat: {'YES' if all(f[3] for f in flat) else 'NO'} (" + ", ".join(
        f"{app} mean per worker {b / 1024:.1f} -> {a / 1024:.1f} MiB ({100 * (a / b - 1):+.1f}%), "
        f"max at the end {m / 1024:.1f} MiB, {r} workers recycled after minute 2"
        for app, b, a, _ok, r, m in flat) + "; limit +10%)")  # fmt: skip
    return lines


# --------------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of open-loop load (default 600)")
    parser.add_argument(
        "--rate", type=float, help="submissions/s; default: 80%% of the peak measured by a 20 s closed-loop burst"
    )
    parser.add_argument("--fraction", type=float, default=0.8, help="share of the measured peak offered (default 0.8)")
    parser.add_argument("--status-per-submit", type=int, default=2, help="status checks per submission (default 2)")
    parser.add_argument("--queue-rate", type=float, default=5.0, help="reviewer queue pages/s (default 5)")
    parser.add_argument("--inspectors", type=int, default=3, help="logged-in lead inspectors reading the queue")
    parser.add_argument("--connections", type=int, default=48, help="citizen connections (in-flight cap, default 48)")
    parser.add_argument("--seed-receipts", type=int, default=300, help="reports filed before the load")
    parser.add_argument("--json", type=Path, help="also write the per-minute results here")
    return parser.parse_args(argv)


async def soak(args: argparse.Namespace, citizen_server: Server, reviewer_server: Server, cookies: list[str]) -> int:
    pool = Pool()
    await seed_receipts(citizen_server, pool, args.seed_receipts)
    citizen = [Client(citizen_server.port) for _ in range(args.connections)]
    for conn in citizen:
        await conn.fetch_token()
    reviewers = [ReviewerClient(reviewer_server.port) for _ in cookies]
    for conn, cookie in zip(reviewers, cookies, strict=True):
        conn.cookie = cookie.encode()
    load = Load(citizen, reviewers, pool)
    peak = None
    if args.rate is None:
        print("Measuring the peak of the citizen mix (20 s closed loop, 32 clients) ...", flush=True)
        peak = await closed_loop_peak(load, citizen[:32], args.status_per_submit, 20.0)
        args.rate = args.fraction * peak
        print(f"  peak {peak:.1f} submissions/s; offering {args.fraction:.0%} of it: {args.rate:.1f}/s", flush=True)
    offered = {"submit": args.rate, "status": args.rate * args.status_per_submit, "queue": args.queue_rate}
    print(f"Open loop for {args.duration:.0f} s: " + ", ".join(f"{k} {v:.1f}/s" for k, v in offered.items())
          + f"; {args.connections} citizen and {len(reviewers)} reviewer connections", flush=True)  # fmt: skip
    servers = {"citizen": citizen_server, "reviewer": reviewer_server}
    minutes = await open_loop(load, offered, args.duration, servers)
    seconds = [min(60.0, args.duration - 60 * i) for i in range(len(minutes))]
    for conn in [*citizen, *reviewers]:
        await conn.close()
    print("\n" + table(minutes, seconds) + "\n")
    late = sorted(ms for m in minutes for ms in m.late_ms)
    print(f"scheduler lateness at dispatch: p99 {percentile(late, 0.99):.1f} ms, max {late[-1]:.1f} ms")
    for line in verdicts(minutes, offered, seconds):
        print(line)
    errors = sum((m.errors for m in minutes), Counter())
    if args.json:
        args.json.write_text(json.dumps({
            "database": args.database, "peak_submissions": peak, "offered": offered,
            "minutes": [{
                "ok": dict(m.ok), "errors": dict(m.errors), "shortfall": dict(m.shortfall),
                "scheduled": dict(m.scheduled), "rss_kib": m.rss, "new_workers": m.new_workers, "cpu_pct": m.cpu_pct,
                "p50_p95_p99_ms": {k: [pct(v, f) for f in (.5, .95, .99)] for k, v in m.latencies.items()},
            } for m in minutes],
        }, indent=1))  # fmt: skip
    return 1 if errors else 0


def environment(database_url: str) -> dict[str, str]:
    """citizen_load.portal_environment (migrate, `keys init`, raised limits), keeping the recovery passphrase
    that it discards: `inspectors add` needs it to give each account its copy of the intake key."""
    from tests.bench import citizen_load

    outputs: list[str] = []

    def capturing(env: dict[str, str], *args: str) -> str:
        outputs.append(flask_command(env, *args))
        return outputs[-1]

    citizen_load.flask_command = capturing  # portal_environment looks the name up at call time
    try:
        env = portal_environment(database_url, None)
    finally:
        citizen_load.flask_command = flask_command
    env["INTAKE_RECOVERY_PASSPHRASE"] = json.loads(outputs[-1])["recovery_passphrase"]
    env["RATELIMIT_LOGIN"] = NO_LIMIT
    return env


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_summary()
    print(f"Machine: {machine['cpus']} CPUs ({machine['cpu_model']}), {machine['memory_gib']} GiB, "
          f"Python {machine['python']}, gunicorn {machine['gunicorn']}; code {machine['code']}", flush=True)  # fmt: skip
    previous = signal.signal(signal.SIGTERM, _interrupt)
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        workdir = Path(tmp)
        scratch = None
        try:
            scratch = Scratch(args.database, workdir, args.pg_url)
            os.environ["AUDIT_KEY"] = secrets.token_urlsafe(48)  # the same for the CLI and the reviewer server
            env = environment(scratch.url)
            accounts = [
                json.loads(flask_command(env, "inspectors", "add", f"soak{i}", "--role", "lead", "--json"))
                for i in range(args.inspectors)
            ]
            citizen_server = Server(ServerSpec.parse("default"), env, workdir / "citizen.log", experiment=False)
            servers.append(citizen_server)
            reviewer_server = ReviewerServer(env, workdir / "reviewer.log")
            servers.append(reviewer_server)
            citizen_server.wait_ready()
            reviewer_server.wait_ready()
            cookies = [
                first_login(reviewer_server.port, f"soak{i}", account["password"])
                for i, account in enumerate(accounts)
            ]
            print(f"{len(cookies)} lead inspectors logged in (first login: new password and TOTP)", flush=True)
            code = asyncio.run(soak(args, citizen_server, reviewer_server, cookies))
        except KeyboardInterrupt:
            print("\ninterrupted: stopping the servers and dropping the database", file=sys.stderr)
            return 130
        finally:
            for server in servers:
                server.stop()
                lines = [line for line in server.log_path.read_text(errors="replace").splitlines() if line.strip()]
                print(f"{server.log_path.stem}: {len(server.workers_seen)} worker processes seen, "
                      f"{len(lines)} log lines at warning or above" + "".join(f"\n    {x}" for x in lines[-8:]))  # fmt: skip
            if scratch is not None:
                cases = scratch.case_count()
                print(f"cases in the database at the end: {cases}")
                scratch.drop()
            signal.signal(signal.SIGTERM, previous)
    return code


if __name__ == "__main__":
    sys.exit(main())
