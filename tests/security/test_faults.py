"""Faults under a real gunicorn: a crash of every process mid-load must not lose a receipt a person saw or
leave half a case behind, and a database outage must tell the person, in Vietnamese, that nothing was saved,
then heal by itself without a restart."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask_babel import force_locale
from markupsafe import escape

from crypto.keys import KeyPair
from portal import create_citizen_app
from portal.errors import MESSAGES
from tests.faults import (
    CONNECTION_LOST,
    Browser,
    Crash,
    PrivatePostgres,
    Probe,
    audit_database,
    read_pid,
    receipt_on,
    running_private_postgres,
)
from tests.servers import gunicorn

pytestmark = pytest.mark.slow

SUBMITTERS = 32
WORKERS = 4
# Kill once this many receipts have been shown: the load is in full swing by then.
KILL_AFTER_RECEIPTS = 40
# Crash twice, so the second crash hits a database that has already recovered from one.
CRASHES = 2
# The limiter stays in the stack, with limits that 32 people behind one address cannot reach.
GENEROUS_LIMITS = {"RATELIMIT_SUBMIT": "100000 per minute", "RATELIMIT_LOOKUP": "100000 per minute"}


def new_marker(attach: bool) -> str:
    return f"FAULT-{'A' if attach else 'N'}-{uuid.uuid4().hex}"


@dataclass
class Load:
    """What the submitters saw, shared between their threads."""

    crash: Crash
    probe: Probe
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    shown: dict[str, str] = field(default_factory=dict)  # receipt -> marker of the report it was shown for
    cut_off: int = 0  # requests whose connection died before the whole page arrived
    unexpected: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # what broke in the test's own threads

    def receipt_shown(self, receipt: str, marker: str) -> None:
        """A person has received a whole receipt page: freeze gunicorn at once and look at what a crash now
        would leave (the worker that answered may still be finishing its request); the receipt that
        reaches the threshold gets the real crash instead of a thaw."""
        with self.lock, self.crash.frozen():
            self.shown[receipt] = marker
            self.probe.look(receipt, marker)
            if len(self.shown) >= KILL_AFTER_RECEIPTS and not self.stop.is_set():
                self.crash.now()
                self.stop.set()

    def submit_until_stopped(self, base: str, attach: bool) -> None:
        try:
            self._submit_until_stopped(base, attach)
        except BaseException as error:  # noqa: BLE001 - reported by the test, not lost in a thread
            self.errors.append(repr(error))
            self.stop.set()

    def _submit_until_stopped(self, base: str, attach: bool) -> None:
        browser = Browser(base)
        while not self.stop.is_set():
            marker = new_marker(attach)
            try:
                status, page = browser.file_report(marker, attach)
            except CONNECTION_LOST:
                with self.lock:
                    self.cut_off += 1
                continue
            receipt = receipt_on(page)
            if status == 201 and receipt:
                self.receipt_shown(receipt, marker)
            else:
                with self.lock:
                    self.unexpected.append(status)


def gunicorn_env(env: dict[str, str], pid_file: Path) -> dict[str, str]:
    return {**env, **GENEROUS_LIMITS, "GUNICORN_CMD_ARGS": f"--pid {pid_file}"}


def crash_under_load(env: dict[str, str], probe: Probe, run_dir: Path) -> Load:
    """Start gunicorn, let 32 people file reports (every other one with a file) and kill it mid-load."""
    run_dir.mkdir()
    pid_file = run_dir / "gunicorn.pid"
    with gunicorn("citizen", gunicorn_env(env, pid_file), run_dir / "gunicorn.log", WORKERS) as base:
        load = Load(Crash(read_pid(pid_file), WORKERS), probe)
        submitters = [
            threading.Thread(target=load.submit_until_stopped, args=(base, index % 2 == 0), daemon=True)
            for index in range(SUBMITTERS)
        ]
        for submitter in submitters:
            submitter.start()
        for submitter in submitters:
            submitter.join(timeout=120)
        assert not any(submitter.is_alive() for submitter in submitters), "a submitter hung after the crash"
    assert load.errors == [], "a submitter thread failed"
    assert len(load.crash.killed) >= WORKERS + 1, "the load ended without the crash"
    assert load.unexpected == [], "answers other than a receipt before the crash"
    assert load.cut_off > 0, "no request was in flight when the server died"
    return load


def test_receipts_shown_before_a_crash_survive_it_and_no_case_is_half_stored(
    env: dict[str, str], intake_keys: KeyPair, tmp_path: Path
) -> None:
    """kill -9 of the master and every worker while 32 people file reports, twice on the same database: after
    a restart every receipt a person saw opens their report, and nothing half-stored remains.

    A kill lands at one instant only, rarely the one between sending a receipt and committing (were there
    one), so gunicorn is also frozen the moment each receipt arrives, and the probe checks what a crash
    at that instant would leave. Filing must work after a restart, or the second crash never comes."""
    probe = Probe(env["DATABASE_URL"], intake_keys, env["RECEIPT_PEPPER"].encode())
    try:
        loads = [crash_under_load(env, probe, tmp_path / f"crash-{number}") for number in range(CRASHES)]
    finally:
        probe.dispose()
    shown = {receipt: marker for load in loads for receipt, marker in load.shown.items()}

    with gunicorn("citizen", {**env, **GENEROUS_LIMITS}, tmp_path / "restarted.log", WORKERS) as base:
        browser = Browser(base)
        marker = new_marker(attach=True)
        status, page = browser.file_report(marker, attach=True)
        receipt = receipt_on(page)
        assert status == 201 and receipt, "filing does not work after the restart"
        token = browser.token("/vi/status")
        first_receipt_status = browser.post_form("/vi/status", {"csrf_token": token, "receipt": next(iter(shown))})[0]
    shown[receipt] = marker

    audit = audit_database(env["DATABASE_URL"], intake_keys, env["RECEIPT_PEPPER"].encode(), shown)
    print(
        f"\n{CRASHES} crashes: {len(shown)} receipts shown, {sum(load.cut_off for load in loads)} requests cut off, "
        f"{sum(len(load.crash.killed) for load in loads)} processes killed, {probe.looks} frozen looks; "
        f"{audit.cases} cases and {audit.attachments} files found, {audit.receipts_resolved} receipts resolved"
    )
    assert not probe.problems, "\n".join(probe.problems)
    assert not audit.problems, "\n".join(audit.problems)
    assert audit.receipts_resolved == len(shown)
    assert first_receipt_status == 200, "the restarted app does not find the first receipt shown"


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    with running_private_postgres() as server:
        yield server


class TestDatabaseOutage:
    """The database goes away under a running citizen app. The machine's shared PostgreSQL is left alone:
    a private server is started for this test, so stopping it disturbs no one else."""

    @pytest.fixture
    def database_url(self, private_postgres: PrivatePostgres) -> str:
        """Replaces the shared fixture for these tests: the conftest `env` then points at the private server."""
        return private_postgres.url

    def test_person_is_told_in_vietnamese_that_nothing_was_saved_and_filing_heals_without_restart(
        self, env: dict[str, str], private_postgres: PrivatePostgres, intake_keys: KeyPair, tmp_path: Path
    ) -> None:
        """While PostgreSQL is down (stopped with -m immediate, as a crash would), filing, looking up a receipt
        and sending a message each get a 503 page in Vietnamese that says nothing was saved, without a
        receipt, and nothing is stored; once it is back, filing works in the same gunicorn, also after a
        restart of the database that no request noticed. The log says the database was unavailable and
        holds no report text and no receipt."""
        title, advice = unavailable_texts(env)
        log_path = tmp_path / "gunicorn.log"
        markers_lost: list[str] = []
        shown: dict[str, str] = {}
        with gunicorn("citizen", {**env, **GENEROUS_LIMITS}, log_path, workers=2) as base:
            browser = Browser(base)
            before = file_or_fail(browser, new_marker(attach=False), attach=False)
            shown.update(before)

            private_postgres.crash()
            for attempt in range(4):
                marker = new_marker(attach=attempt % 2 == 0)
                markers_lost.append(marker)
                status, page = browser.file_report(marker, attach=attempt % 2 == 0)
                assert_unavailable_page(status, page, title, advice)
            token = browser.token("/vi/status")
            status, page = browser.post_form("/vi/status", {"csrf_token": token, "receipt": next(iter(before))})
            assert_unavailable_page(status, page, title, advice)
            message = new_marker(attach=False)
            markers_lost.append(message)
            status, page = browser.post_form(
                "/vi/status/message", {"csrf_token": token, "receipt": next(iter(before)), "text": message}
            )
            assert_unavailable_page(status, page, title, advice)

            private_postgres.start()
            for attempt in range(4):
                shown.update(file_or_fail(browser, new_marker(attach=attempt % 2 == 0), attach=attempt % 2 == 0))
            token = browser.token("/vi/status")
            assert browser.post_form("/vi/status", {"csrf_token": token, "receipt": next(iter(before))})[0] == 200

            # A restart while nobody is filing must go unnoticed: the workers' pooled connections are dead.
            private_postgres.crash()
            private_postgres.start()
            for attempt in range(4):
                shown.update(file_or_fail(browser, new_marker(attach=attempt % 2 == 0), attach=attempt % 2 == 0))

        audit = audit_database(env["DATABASE_URL"], intake_keys, env["RECEIPT_PEPPER"].encode(), shown)
        print(
            f"\n{audit.cases} cases stored, {len(markers_lost)} sendings refused in the outage, {len(shown)} receipts"
        )
        assert not audit.problems, "\n".join(audit.problems)
        assert audit.markers == set(shown.values()), "a report sent during the outage was stored"
        assert audit.messages == 0, "a message sent during the outage was stored"
        log = log_path.read_text(errors="replace")
        # Control: the outage is in the log, so its silence about reports means something.
        assert "database unavailable" in log
        needles = [*markers_lost, *shown.values(), *shown, *(receipt.replace("-", "") for receipt in shown)]
        assert not [needle for needle in needles if needle in log], log


def unavailable_texts(env: dict[str, str]) -> tuple[str, str]:
    """The 503 page's title and advice in Vietnamese, taken from the catalogue, checked to be translated."""
    app = create_citizen_app(env)
    with app.test_request_context("/vi/"):
        with force_locale("en"):
            english = [str(text) for text in MESSAGES[503]]
        with force_locale("vi"):
            vietnamese = [str(text) for text in MESSAGES[503]]
    app.extensions["portal_db"].dispose()
    assert all(vi != en for vi, en in zip(vietnamese, english, strict=True)), "the 503 page is not translated"
    return vietnamese[0], vietnamese[1]


def assert_unavailable_page(status: int, page: str, title: str, advice: str) -> None:
    assert status == 503, page
    assert '<html lang="vi"' in page
    assert str(escape(title)) in page and str(escape(advice)) in page, page
    assert "receipt-code" not in page and receipt_on(page) is None


def file_or_fail(browser: Browser, marker: str, attach: bool) -> dict[str, str]:
    status, page = browser.file_report(marker, attach)
    receipt = receipt_on(page)
    assert status == 201 and receipt, f"filing failed with {status}"
    return {receipt: marker}
