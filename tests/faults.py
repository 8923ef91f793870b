"""Tools for fault tests: browsers that may lose their connection, killing gunicorn like a power cut would,
a private PostgreSQL server that can be crashed, and an audit of what the database holds afterwards."""

from __future__ import annotations

import hashlib
import http.client
import http.cookiejar
import io
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from crypto.keys import KeyPair
from crypto.sealing import open_document
from portal import attachments
from portal.cases import REPORT_KIND, find_by_receipt
from portal.db import Database
from portal.migrate import upgrade
from portal.models import Attachment, AttachmentChunk, Case, Message, ReferenceCounter
from tests.helpers import CSRF_PATTERN, RECEIPT_PATTERN, VALID_REPORT
from tests.servers import free_port

MARKER_PATTERN = re.compile(r"FAULT-[AN]-[0-9a-f]{32}")
# Three 64 KiB chunks, the last one partial: enough to see a file cut short.
EVIDENCE_BYTES = 150_000
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
# What a client sees when the server dies under it: reset, refused, closed early or cut mid-body.
CONNECTION_LOST = (OSError, http.client.HTTPException)


def evidence_of(marker: str) -> bytes:
    """The file a submitter attaches, derived from its marker so the audit can recompute it for any case."""
    return hashlib.shake_256(marker.encode()).digest(EVIDENCE_BYTES)


def narrative_with(marker: str) -> str:
    return f"{VALID_REPORT['narrative']} Mã đối chiếu {marker}."


class Browser:
    """One person's browser: its own cookie jar; a page counts only once its whole body has arrived."""

    def __init__(self, base: str, timeout: float = 60) -> None:
        self.base = base
        self.timeout = timeout
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def request(self, path: str, body: bytes | None = None, content_type: str = "") -> tuple[int, str]:
        """Raises one of CONNECTION_LOST when the server goes away before the full page is read."""
        headers = {"Content-Type": content_type} if content_type else {}
        request = urllib.request.Request(self.base + path, data=body, headers=headers)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode()

    def post_form(self, path: str, data: dict[str, Any]) -> tuple[int, str]:
        return self.request(
            path, urllib.parse.urlencode(data, doseq=True).encode(), "application/x-www-form-urlencoded"
        )

    def post_multipart(self, path: str, data: dict[str, Any], files: list[tuple[bytes, str]]) -> tuple[int, str]:
        fields = MultiDict(data)
        for content, name in files:
            fields.add(
                "files", FileStorage(io.BytesIO(content), filename=name, content_type="application/octet-stream")
            )
        boundary, body = encode_multipart(fields)
        return self.request(path, body, f"multipart/form-data; boundary={boundary}")

    def token(self, path: str) -> str:
        status, page = self.request(path)
        match = CSRF_PATTERN.search(page)
        assert status == 200 and match, f"no form on {path} ({status})"
        return match.group(1)

    def file_report(self, marker: str, attach: bool, lang: str = "vi") -> tuple[int, str]:
        """Fetch the form and send a report whose narrative carries `marker`, with its evidence file if `attach`."""
        data = {**VALID_REPORT, "narrative": narrative_with(marker), "csrf_token": self.token(f"/{lang}/report")}
        if attach:
            return self.post_multipart(f"/{lang}/report", data, [(evidence_of(marker), f"{marker}.bin")])
        return self.post_form(f"/{lang}/report", data)


def receipt_on(page: str) -> str | None:
    match = RECEIPT_PATTERN.search(page)
    return match.group(1) if match else None


# --- killing gunicorn -------------------------------------------------------------------------------


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def read_pid(path: Path, timeout: float = 30) -> int:
    """The pid gunicorn wrote (started with `--pid path`, e.g. through GUNICORN_CMD_ARGS)."""
    wait_for(lambda: path.exists() and path.read_text().strip().isdigit(), timeout, f"gunicorn's pid file {path}")
    return int(path.read_text().strip())


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) from /proc/<pid>/stat, or None once the process is gone."""
    try:
        content = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = content[content.rindex(")") + 2 :].split()  # the name in parentheses may hold spaces
    return fields[0], int(fields[1])


def descendants(root: int) -> list[int]:
    """Every living process below `root` (gunicorn's workers and anything they started)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None and stat[0] not in "ZX":
            parents[int(entry.name)] = stat[1]
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in "ZX"


def _stopped(pid: int) -> bool:
    stat = _stat(pid)
    return stat is None or stat[0] in "TtZX"


class Crash:
    """Pulls the plug on a running gunicorn: SIGKILL to the master and every worker, as a power cut would.

    The workers are listed beforehand, so the kill lands within microseconds of `now()`; the master is
    frozen first so that it cannot replace them, and anything else below it is found and killed too.
    `frozen()` stops every process instead, for a look at what a crash at that instant would leave.
    """

    def __init__(self, master: int, workers: int, timeout: float = 30) -> None:
        self.master = master
        wait_for(lambda: len(descendants(master)) >= workers, timeout, f"{workers} gunicorn workers")
        self.workers = descendants(master)
        self.killed: list[int] = []

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Every gunicorn process stopped (SIGSTOP, waited for) until the block ends, unless it killed them."""
        processes = [self.master, *self.workers]
        for pid in processes:
            _signal(pid, signal.SIGSTOP)
        wait_for(lambda: all(_stopped(pid) for pid in processes), 30, "gunicorn to stop", interval=0.0005)
        try:
            yield
        finally:
            if not self.killed:
                for pid in processes:
                    _signal(pid, signal.SIGCONT)

    def now(self) -> list[int]:
        """Kill everything and wait until it is gone; returns the pids killed."""
        _signal(self.master, signal.SIGSTOP)
        for pid in self.workers:
            _signal(pid, signal.SIGKILL)
        victims = [*self.workers, *(pid for pid in descendants(self.master) if pid not in self.workers), self.master]
        for pid in victims:
            _signal(pid, signal.SIGKILL)
        wait_for(lambda: not any(alive(pid) for pid in victims), 30, "gunicorn processes to die")
        self.killed = victims
        return victims


def _signal(pid: int, signal_number: int) -> None:
    try:
        os.kill(pid, signal_number)
    except ProcessLookupError:
        pass


# --- a private PostgreSQL server --------------------------------------------------------------------


def why_no_private_postgres() -> str:
    """Why a private PostgreSQL server cannot run here, or "" when it can."""
    missing = [name for name in ("initdb", "pg_ctl", "postgres") if not (POSTGRES_BIN / name).exists()]
    if missing:
        return f"PostgreSQL server binaries not found in {POSTGRES_BIN} ({', '.join(missing)})"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres user to run initdb as"
        if shutil.which("runuser") is None:
            return "running as root without runuser to run initdb as the postgres user"
    return ""


@contextmanager
def running_private_postgres() -> Iterator[PrivatePostgres]:
    """A migrated private server for one test (skipped with the reason where none can run), removed afterwards."""
    reason = why_no_private_postgres()
    if reason:
        pytest.skip(f"cannot run a private PostgreSQL server: {reason}")
    server = PrivatePostgres()
    try:
        server.init()
        upgrade(server.url)
        yield server
    finally:
        server.remove()


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on a free loopback port, owned by the `postgres` user (initdb refuses
    root), with trust auth; `crash()` stops it with `-m immediate`, the way a dying server leaves its clients."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="portal-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/portal"

    def _as_postgres(self, *command: str, check: bool = True) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*as_postgres, *command], capture_output=True, timeout=120, check=False)
        if check and done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            raise RuntimeError(f"{Path(command[0]).name} failed with {done.returncode}: {output}")

    def init(self) -> None:
        self._as_postgres(
            str(POSTGRES_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        self.start()
        admin = create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as connection:
            connection.execute(text("CREATE DATABASE portal"))
        admin.dispose()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60",
            "-o", options, "start",
        )  # fmt: skip

    def crash(self) -> None:
        self._as_postgres(str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._as_postgres(
                str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False
            )
        shutil.rmtree(self.root, ignore_errors=True)


# --- what the database holds ------------------------------------------------------------------------


@dataclass
class Audit:
    """Every problem found, and counts to report."""

    problems: list[str] = field(default_factory=list)
    cases: int = 0
    attachments: int = 0
    receipts_resolved: int = 0
    messages: int = 0
    markers: set[str] = field(default_factory=set)


def audit_database(url: str, intake: KeyPair, pepper: bytes, shown: dict[str, str]) -> Audit:
    """Check that no filing is half-stored and that every receipt shown (receipt -> marker) opens its report.

    A case's marker says whether its report came with a file (FAULT-A-...) or not (FAULT-N-...), and the
    file's content follows from the marker, so a case left without its file, a file cut short or a file
    with another case's content are all visible, for cases whose receipt no client ever saw too.
    """
    audit = Audit()
    db = Database(url)
    try:
        with db.session() as session:
            case_rows = session.scalars(select(Case).order_by(Case.id)).all()
            files = session.scalars(select(Attachment).order_by(Attachment.id)).all()
            chunk_seqs: dict[int, list[int]] = {}
            for attachment_id, seq in session.execute(
                select(AttachmentChunk.attachment_id, AttachmentChunk.seq).order_by(
                    AttachmentChunk.attachment_id, AttachmentChunk.seq
                )
            ):
                chunk_seqs.setdefault(attachment_id, []).append(seq)
            counters = {row.year: row.last_value for row in session.scalars(select(ReferenceCounter))}
            references = session.scalars(select(Case.reference)).all()
            audit.messages = session.scalar(select(func.count()).select_from(Message)) or 0
            orphan_files = session.scalar(
                select(func.count()).select_from(Attachment).where(~Attachment.case_id.in_(select(Case.id)))
            )
        audit.cases, audit.attachments = len(case_rows), len(files)
        marker_of_case = _check_cases(case_rows, intake, audit)
        _check_files(db, files, chunk_seqs, marker_of_case, intake, audit)
        if orphan_files:
            audit.problems.append(f"{orphan_files} attachments without a case")
        orphan_chunks = set(chunk_seqs) - {file.id for file in files}
        if orphan_chunks:
            audit.problems.append(f"chunks of missing attachments {sorted(orphan_chunks)}")
        _check_references(references, counters, audit)
        _check_receipts(db, pepper, shown, audit)
    finally:
        db.dispose()
    return audit


def marker_of(reference: str, sealed_report: bytes, intake: KeyPair) -> str:
    """The marker in a case's report, opened with the intake key; raises ValueError saying what is wrong."""
    try:
        narrative = open_document(sealed_report, intake.private, REPORT_KIND)["narrative"]
    except Exception as error:  # noqa: BLE001 - any failure to open is the finding
        raise ValueError(f"case {reference}: sealed report does not open ({error!r})") from None
    markers = MARKER_PATTERN.findall(narrative)
    if len(markers) != 1:
        raise ValueError(f"case {reference}: report carries markers {markers}")
    return str(markers[0])


def files_expected(marker: str) -> int:
    return 1 if marker.startswith("FAULT-A-") else 0


def _check_cases(case_rows: Sequence[Case], intake: KeyPair, audit: Audit) -> dict[int, str]:
    marker_of_case: dict[int, str] = {}
    for case in case_rows:
        try:
            marker = marker_of(case.reference, case.sealed_report, intake)
        except ValueError as error:
            audit.problems.append(str(error))
            continue
        if marker in audit.markers:
            audit.problems.append(f"case {case.reference}: report {marker} stored twice")
        audit.markers.add(marker)
        marker_of_case[case.id] = marker
    return marker_of_case


def _check_files(
    db: Database,
    files: Sequence[Attachment],
    chunk_seqs: dict[int, list[int]],
    marker_of_case: dict[int, str],
    intake: KeyPair,
    audit: Audit,
) -> None:
    files_of_case: dict[int, int] = {}
    for file in files:
        files_of_case[file.case_id] = files_of_case.get(file.case_id, 0) + 1
        seqs = chunk_seqs.get(file.id, [])
        if seqs != list(range(file.chunk_count)):
            audit.problems.append(f"attachment {file.id}: chunk_count {file.chunk_count} but chunks {seqs}")
            continue
        try:
            info = attachments.open_info(file.sealed_for_intake, intake.private)
            content = b"".join(attachments.plaintext(db, file, info))
        except Exception as error:  # noqa: BLE001 - any failure to decrypt is the finding
            audit.problems.append(f"attachment {file.id}: does not decrypt fully ({error!r})")
            continue
        if hashlib.sha256(content).hexdigest() != info.sha256 or len(content) != info.size:
            audit.problems.append(f"attachment {file.id}: content differs from its sealed size and hash")
        marker = marker_of_case.get(file.case_id)
        if marker is not None and content != evidence_of(marker):
            audit.problems.append(f"attachment {file.id}: not the file sent with {marker}")
    for case_id, marker in marker_of_case.items():
        expected = files_expected(marker)
        if files_of_case.get(case_id, 0) != expected:
            audit.problems.append(f"case of {marker}: {files_of_case.get(case_id, 0)} files, sent with {expected}")


def _check_references(references: Sequence[str], counters: dict[int, int], audit: Audit) -> None:
    if len(set(references)) != len(references):
        audit.problems.append("two cases share a reference")
    by_year: dict[int, int] = {}
    for reference in references:
        year = int(reference.split("-")[0])
        by_year[year] = by_year.get(year, 0) + 1
    # Numbers are drawn in the filing's transaction, so a crashed filing gives its number back.
    if by_year != counters:
        audit.problems.append(f"reference counters {counters} but cases per year {by_year}")


def _check_receipts(db: Database, pepper: bytes, shown: dict[str, str], audit: Audit) -> None:
    with db.session() as session:
        for receipt, marker in shown.items():
            found = find_by_receipt(session, pepper, receipt)
            if found is None:
                audit.problems.append(f"receipt shown for {marker} finds no case")
                continue
            if marker not in found.report()["narrative"]:
                audit.problems.append(f"receipt shown for {marker} opens another report")
                continue
            audit.receipts_resolved += 1


class Probe:
    """What a crash at this very instant would leave, looked at while every gunicorn process is frozen.

    Freezing is as good as a kill for what is committed, but it can be repeated at every receipt: the
    receipt just received must already open its report, and every case committed since the last look
    must have its file, complete. (The full check of contents is `audit_database`, after a real crash.)
    """

    def __init__(self, url: str, intake: KeyPair, pepper: bytes) -> None:
        self.db = Database(url)
        self.intake = intake
        self.pepper = pepper
        self.looks = 0
        self.problems: list[str] = []
        self._seen_cases: set[int] = set()

    def look(self, receipt: str, marker: str) -> None:
        self.looks += 1
        with self.db.session() as session:
            found = find_by_receipt(session, self.pepper, receipt)
            if found is None:
                self.problems.append(f"receipt shown for {marker} was not stored when the person received it")
            elif marker not in found.report()["narrative"]:
                self.problems.append(f"receipt shown for {marker} opens another report")
            ids = [case_id for case_id in session.scalars(select(Case.id)) if case_id not in self._seen_cases]
            self._seen_cases.update(ids)
            new = session.execute(select(Case.id, Case.reference, Case.sealed_report).where(Case.id.in_(ids))).all()
            file_counts = dict(
                session.execute(
                    select(Attachment.case_id, func.count())
                    .where(Attachment.case_id.in_(ids))
                    .group_by(Attachment.case_id)
                ).all()
            )
            incomplete = session.execute(
                select(Attachment.id, Attachment.chunk_count, func.count(AttachmentChunk.seq))
                .outerjoin(AttachmentChunk, AttachmentChunk.attachment_id == Attachment.id)
                .where(Attachment.case_id.in_(ids))
                .group_by(Attachment.id, Attachment.chunk_count)
                .having(func.count(AttachmentChunk.seq) != Attachment.chunk_count)
            ).all()
        for row in new:
            try:
                marker_in_case = marker_of(row.reference, row.sealed_report, self.intake)
            except ValueError as error:
                self.problems.append(str(error))
                continue
            if file_counts.get(row.id, 0) != files_expected(marker_in_case):
                self.problems.append(
                    f"case of {marker_in_case} committed with {file_counts.get(row.id, 0)} files, sent with "
                    f"{files_expected(marker_in_case)}"
                )
        self.problems += [f"attachment {id_} committed with {count} of {n} chunks" for id_, n, count in incomplete]

    def dispose(self) -> None:
        self.db.dispose()
