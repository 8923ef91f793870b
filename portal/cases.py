"""Case services for the citizen side: filing a report, finding it again by receipt, messages.

Every slow or CPU-bound step (random codes, key derivation, sealing) happens before the write
transaction opens; the transaction itself only allocates a reference number and inserts rows,
so concurrent filings never hold the database for long (DESIGN.md section 7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any

from sqlalchemy import Select, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload, lazyload, load_only

from crypto.keys import KeyPair, key_id
from crypto.receipts import (
    generate_receipt,
    lookup_id,
    new_case_salt,
    parse_receipt,
    reporter_keypair,
)
from crypto.sealing import open_document, seal_document
from portal import attachments, lifecycle
from portal.db import Database
from portal.lifecycle import REOPENED_BY_REPORTER, State
from portal.models import Attachment, Case, CaseEvent, Message, ReferenceCounter
from portal.taxonomy import IDENTIFIED_TYPES
from portal.uploads import Upload
from portal.workdays import today, vietnam_calendar

REPORT_KIND = "report"
IDENTITY_KIND = "identity"
MESSAGE_KIND = "message"
REPORTER = "reporter"
INSPECTOR = "inspector"

# What the reporter's pages and a reopening read, and no other column: the citizen portal's database
# role may read nothing else (portal/db_roles.py), so a query loading whole rows would be refused.
_CLOCK_COLUMNS = tuple(getattr(Case, field.name) for field in fields(lifecycle.Clock))
_REPORTER_CASE_COLUMNS = (
    Case.report_type, Case.received_on, Case.reporter_public_key, Case.reporter_salt, Case.sealed_report_for_reporter,
    *_CLOCK_COLUMNS,
)  # fmt: skip
_REPORTER_MESSAGE_COLUMNS = (Message.author, Message.sent_on, Message.sealed_for_reporter)
_REPORTER_FILE_COLUMNS = (
    Attachment.message_id, Attachment.author, Attachment.sent_on, Attachment.stream_header,
    Attachment.sealed_for_reporter,
)  # fmt: skip


@dataclass(frozen=True)
class Intake:
    """What the citizen portal holds: the intake public key and the receipt pepper, nothing that opens a report."""

    public_key: bytes
    pepper: bytes


def file_report(
    db: Database,
    intake: Intake,
    report: dict[str, Any],
    identity: dict[str, Any] | None,
    files: Sequence[Upload] = (),
    keep_original: bool = False,
) -> str:
    """Seal and store a report with its files; returns the receipt, only once everything is durably
    committed. Raises attachments.CannotClean (and stores nothing) for a photo or PDF that is malformed."""
    receipt = generate_receipt()
    canonical = parse_receipt(receipt)
    salt = new_case_salt()
    reporter = reporter_keypair(canonical, salt)
    prepared = attachments.prepare_all(files, keep_original, [intake.public_key, reporter.public])
    for_intake, for_reporter = seal_document(REPORT_KIND, report, [intake.public_key, reporter.public])
    sealed_identity = seal_document(IDENTITY_KIND, identity, [intake.public_key])[0] if identity else None
    received_on = today()
    report_type = report["report_type"]
    clock = lifecycle.filed(report_type, received_on, vietnam_calendar())
    row = dict(
        lookup_id=lookup_id(intake.pepper, canonical),
        report_type=report_type,
        anonymous=sealed_identity is None,
        received_on=received_on,
        **clock_values(clock),
        intake_key_id=key_id(intake.public_key),
        reporter_public_key=reporter.public,
        reporter_salt=salt,
        sealed_report=for_intake,
        sealed_report_for_reporter=for_reporter,
        sealed_identity=sealed_identity,
    )
    try:
        with db.transaction() as session:
            # A Core insert: the ORM's unit of work would cost more than the rest of the transaction.
            case_id = session.execute(
                insert(Case).values(reference=allocate_reference(session, received_on.year), **row).returning(Case.id)
            ).scalar_one()
            attachments.store(session, prepared, case_id=case_id, author=REPORTER, sent_on=received_on)
    finally:
        attachments.discard(prepared)
    return receipt


def allocate_reference(session: Session, year: int) -> str:
    """The next inspector-facing case number of the year, e.g. 2026-00042.

    One upsert bumps the year's counter (creating it at 1) and returns the value inside the caller's
    transaction: PostgreSQL serialises concurrent bumps on the row lock and SQLite on its write lock,
    so two filings never draw the same number, and a rolled-back filing gives its number back.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(ReferenceCounter).values(year=year, last_value=1)
    number = session.execute(
        statement.on_conflict_do_update(
            index_elements=["year"], set_={"last_value": ReferenceCounter.last_value + 1}
        ).returning(ReferenceCounter.last_value)
    ).scalar_one()
    return f"{year}-{number:05d}"


@dataclass(frozen=True)
class ReporterFile:
    id: int
    author: str
    sent_on: date
    info: attachments.FileInfo


@dataclass(frozen=True)
class ReporterMessage:
    author: str
    sent_on: date
    body: str
    files: list[ReporterFile]


@dataclass(frozen=True)
class ReporterCase:
    """A case as its reporter may see it: opened with the key only their receipt yields."""

    case: Case
    receipt: str
    key: KeyPair

    @property
    def state(self) -> State:
        return State(self.case.state)

    @property
    def identified(self) -> bool:
        return self.case.report_type in IDENTIFIED_TYPES

    def report(self) -> dict[str, Any]:
        return open_document(self.case.sealed_report_for_reporter, self.key.private, REPORT_KIND)

    def files_by_message(self, session: Session) -> dict[int | None, list[ReporterFile]]:
        """Files named from the reporter's own sealed copies, by the message they came with (None: the report)."""
        grouped: dict[int | None, list[ReporterFile]] = {}
        query = (
            select(Attachment)
            .where(Attachment.case_id == self.case.id)
            .options(load_only(*_REPORTER_FILE_COLUMNS))
            .order_by(Attachment.id)
        )
        for row in session.scalars(query):
            info = attachments.open_info(row.sealed_for_reporter, self.key.private)
            grouped.setdefault(row.message_id, []).append(ReporterFile(row.id, row.author, row.sent_on, info))
        return grouped

    def messages(self, files: dict[int | None, list[ReporterFile]]) -> list[ReporterMessage]:
        return [
            ReporterMessage(
                message.author,
                message.sent_on,
                open_document(message.sealed_for_reporter, self.key.private, MESSAGE_KIND)["text"],
                files.get(message.id, []),
            )
            for message in self.case.messages
        ]

    def reloaded(self, session: Session) -> ReporterCase:
        """The case read again in a new snapshot, after the reporter added to it. (Refreshing the expired
        object instead would read every column, which the citizen portal's role may not.)"""
        case_id = self.case.id
        session.rollback()
        case = session.scalars(_reporter_case_query().where(Case.id == case_id)).unique().one()
        return replace(self, case=case)

    def file(self, session: Session, attachment_id: int) -> tuple[Attachment, attachments.FileInfo] | None:
        """One of this case's files with what the reporter's copy says of it; None for any other id."""
        row = session.scalars(
            select(Attachment)
            .where(Attachment.id == attachment_id, Attachment.case_id == self.case.id)
            .options(load_only(*_REPORTER_FILE_COLUMNS))
        ).one_or_none()
        if row is None:
            return None
        return row, attachments.open_info(row.sealed_for_reporter, self.key.private)


def find_by_receipt(session: Session, pepper: bytes, receipt_text: str) -> ReporterCase | None:
    """The case behind a typed receipt, or None. Raises ReceiptFormatError for a mistyped code,
    before any lookup, so a typo costs no database work and tells the person to check the code."""
    canonical = parse_receipt(receipt_text)
    query = _reporter_case_query().where(Case.lookup_id == lookup_id(pepper, canonical))
    case = session.scalars(query).unique().one_or_none()
    if case is None:
        return None
    return ReporterCase(case, canonical, reporter_keypair(canonical, case.reporter_salt))


def _reporter_case_query() -> Select[Case]:
    return select(Case).options(
        load_only(*_REPORTER_CASE_COLUMNS),
        joinedload(Case.messages).load_only(*_REPORTER_MESSAGE_COLUMNS),
        lazyload("*"),  # not the inspectors' categories
    )


def clock_values(clock: lifecycle.Clock) -> dict[str, Any]:
    """The clock as column values (the Clock's fields are named after Case's columns)."""
    return {**{field.name: getattr(clock, field.name) for field in fields(clock)}, "state": str(clock.state)}


def clock_of(case: Case) -> lifecycle.Clock:
    values = {field.name: getattr(case, field.name) for field in fields(lifecycle.Clock)}
    return lifecycle.Clock(**{**values, "state": State(case.state)})


def add_reporter_message(
    db: Database,
    intake: Intake,
    found: ReporterCase,
    text: str,
    files: Sequence[Upload] = (),
    keep_original: bool = False,
) -> None:
    """Seal a reporter's message (and its files) to the inspectors and to the reporter's own key, and store it.

    New information sends a waiting or archived case back to triage, with the deadline the
    lifecycle gives it; the case row is locked so an inspector's act cannot interleave.
    """
    recipients = [intake.public_key, found.case.reporter_public_key]
    for_intake, for_reporter = seal_document(MESSAGE_KIND, {"text": text}, recipients)
    prepared = attachments.prepare_all(files, keep_original, recipients)
    sent_on = today()
    try:
        with db.transaction() as session:
            message_id = session.execute(
                insert(Message)
                .values(
                    case_id=found.case.id,
                    author=REPORTER,
                    sent_on=sent_on,
                    sealed_for_intake=for_intake,
                    sealed_for_reporter=for_reporter,
                )
                .returning(Message.id)
            ).scalar_one()
            attachments.store(
                session, prepared, case_id=found.case.id, message_id=message_id, author=REPORTER, sent_on=sent_on
            )
            _reopen_if_waiting(session, found.case.id, sent_on)
    finally:
        attachments.discard(prepared)


def _reopen_if_waiting(session: Session, case_id: int, sent_on: date) -> None:
    query = select(Case).where(Case.id == case_id).options(load_only(Case.report_type, *_CLOCK_COLUMNS), lazyload("*"))
    case = session.scalars(query.with_for_update()).one()
    waiting_in = case.state
    if State(waiting_in) in REOPENED_BY_REPORTER:
        clock = lifecycle.reopen_by_reporter(
            clock_of(case), sent_on, vietnam_calendar(), identified=case.report_type in IDENTIFIED_TYPES
        )
        session.execute(update(Case).where(Case.id == case.id).values(**clock_values(clock)))
        # Inline: the new row's id is not read back, since the timeline is not the citizen portal's to read.
        session.execute(
            insert(CaseEvent.__table__)
            .inline()
            .values(
                case_id=case.id, occurred_on=sent_on, kind="transition", from_state=waiting_in, to_state=clock.state
            )
        )
