"""Case services for the reviewer side: open a case, classify, assign, move it through the law's
steps, message the reporter, keep notes, reveal the identity.

Every act is checked against the actor's role here, not only in the views, and writes its audit
event in the same transaction as the change, so no change exists without its trace. Text an
inspector writes (a reason, a note, a message) is sealed to the case's intake key (a fraction of a
millisecond); the only plaintext is what the queue and the deadlines need. Each change locks the
case row and checks the state the person saw, so two inspectors never act on a stale page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload

from crypto.keys import KeyPair
from crypto.sealing import open_document, seal_document
from portal import attachments, audit, lifecycle
from portal.accounts import Role
from portal.cases import IDENTITY_KIND, INSPECTOR, MESSAGE_KIND, REPORT_KIND, clock_of, clock_values
from portal.db import Database
from portal.lifecycle import Extension, State
from portal.models import Attachment, Case, CaseCategory, CaseEvent, CaseNote, Inspector, IntakeKey, Message
from portal.taxonomy import IDENTIFIED_TYPES
from portal.uploads import Upload
from portal.workdays import WorkCalendar

NOTE_KIND = "note"
EVENT_KIND = "event"
# What plain inspectors may open without being assigned: the shared triage queue.
TRIAGE_STATES = frozenset({State.RECEIVED, State.TRIAGE, State.NEED_INFO})


class NotAllowed(Exception):
    """The actor's role does not allow this act on this case."""


class KeyNotHeld(NotAllowed):
    """The case is sealed to an intake key this login does not hold: one rotated in since the person logged in
    (their next login receives it), or one never granted to them."""


class CaseChanged(Exception):
    """The case moved on since the page was shown: nothing was changed, the person should look again."""


@dataclass(frozen=True)
class Actor:
    id: int
    username: str
    role: Role

    @classmethod
    def of(cls, inspector: Inspector) -> Actor:
        return cls(inspector.id, inspector.username, Role(inspector.role))

    @property
    def is_lead(self) -> bool:
        return self.role == Role.LEAD


@dataclass(frozen=True)
class Context:
    """What every act needs besides its own input: where to write, who acts, the audit key, the day."""

    db: Database
    actor: Actor
    audit_key: bytes
    today: date
    calendar: WorkCalendar


@dataclass(frozen=True)
class EvidenceFile:
    id: int
    sender: str | None  # an inspector's display name; None for the reporter
    sent_on: date
    info: attachments.FileInfo


@dataclass(frozen=True)
class TimelineEntry:
    on: date
    kind: str  # "transition", "assignment", "classification", "reveal", "message", "note"
    actor: str | None  # an inspector's display name; None for the reporter
    from_state: str | None = None
    to_state: str | None = None
    text: str | None = None
    detail: dict[str, Any] | None = None
    files: tuple[EvidenceFile, ...] = ()


@dataclass(frozen=True)
class CaseFile:
    """A case opened with the intake keys: the report and its files, the thread, the notes and the timeline."""

    case: Case
    report: dict[str, Any]
    report_files: list[EvidenceFile]
    timeline: list[TimelineEntry]
    identity: dict[str, Any] | None

    @property
    def all_files(self) -> list[EvidenceFile]:
        """The report's files, then each message's, in the order they arrived."""
        return [*self.report_files, *(file for entry in self.timeline for file in entry.files)]


def may_see(actor: Actor, case: Case) -> bool:
    if actor.role == Role.LEAD:
        return True
    if actor.role == Role.INSPECTOR:
        return case.state in TRIAGE_STATES or case.assignee_id == actor.id
    return False  # administrators manage accounts; they never read reports


def may_see_identity(actor: Actor, case: Case) -> bool:
    """Only after a lead's reasoned reveal, and then only to leads and the inspector in charge."""
    return case.identity_revealed_on is not None and (actor.is_lead or case.assignee_id == actor.id)


def open_case(ctx: Context, session: Session, case_id: int, keyring: Mapping[str, KeyPair]) -> CaseFile:
    """Decrypt a case for an inspector allowed to see it; the view is written to the audit trail."""
    opened = read_case(ctx, session, case_id, keyring)
    with ctx.db.transaction() as write:
        _audit(ctx, write, audit.Action.CASE_VIEWED, case_id, {"identity_shown": opened.identity is not None})
    return opened


def read_case(ctx: Context, session: Session, case_id: int, keyring: Mapping[str, KeyPair]) -> CaseFile:
    """The decrypted case, without an audit event: every caller records its own reason for reading it."""
    case = session.scalars(select(Case).where(Case.id == case_id).options(selectinload(Case.messages))).one_or_none()
    if case is None or not may_see(ctx.actor, case):
        raise NotAllowed
    private = _private_key(keyring, case)
    names = {row.id: row.display_name for row in session.execute(select(Inspector.id, Inspector.display_name))}
    files: dict[int | None, list[EvidenceFile]] = {}
    for row in session.scalars(select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id)):
        sender = names.get(row.inspector_id) if row.author == INSPECTOR else None
        evidence = EvidenceFile(row.id, sender, row.sent_on, attachments.open_info(row.sealed_for_intake, private))
        files.setdefault(row.message_id, []).append(evidence)
    timeline = [
        TimelineEntry(
            message.sent_on,
            "message",
            names.get(message.inspector_id) if message.author == INSPECTOR else None,
            text=open_document(message.sealed_for_intake, private, MESSAGE_KIND)["text"],
            files=tuple(files.get(message.id, ())),
        )
        for message in case.messages
    ]
    for note in session.scalars(select(CaseNote).where(CaseNote.case_id == case.id)):
        text = open_document(note.sealed_note, private, NOTE_KIND)["text"]
        timeline.append(TimelineEntry(note.written_on, "note", names.get(note.author_id), text=text))
    for event in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)):
        detail = open_document(event.sealed_detail, private, EVENT_KIND) if event.sealed_detail else {}
        timeline.append(
            TimelineEntry(
                event.occurred_on,
                event.kind,
                names.get(event.actor_id) if event.actor_id else None,
                event.from_state,
                event.to_state,
                detail.get("text"),
                detail,
            )
        )
    timeline.sort(key=lambda entry: entry.on)
    identity = None
    if case.sealed_identity is not None and may_see_identity(ctx.actor, case):
        identity = open_document(case.sealed_identity, private, IDENTITY_KIND)
    report = open_document(case.sealed_report, private, REPORT_KIND)
    return CaseFile(case, report, files.get(None, []), timeline, identity)


def open_for_export(ctx: Context, session: Session, case_id: int, keyring: Mapping[str, KeyPair]) -> CaseFile:
    """A lead's handover export: the whole case, the identity only if already revealed; audited first."""
    if not ctx.actor.is_lead:
        raise NotAllowed
    opened = read_case(ctx, session, case_id, keyring)
    with ctx.db.transaction() as write:
        detail = {"files": len(opened.all_files), "identity_included": opened.identity is not None}
        _audit(ctx, write, audit.Action.CASE_EXPORTED, case_id, detail)
    return opened


def open_file(
    ctx: Context, session: Session, case_id: int, file_id: int, keyring: Mapping[str, KeyPair]
) -> tuple[Attachment, attachments.FileInfo]:
    """A file of a case the actor may see, ready to stream; the decryption is audited before a byte goes out."""
    case = session.get(Case, case_id)
    row = session.get(Attachment, file_id)
    if case is None or row is None or row.case_id != case.id or not may_see(ctx.actor, case):
        raise NotAllowed
    info = attachments.open_info(row.sealed_for_intake, _private_key(keyring, case))
    with ctx.db.transaction() as write:
        _audit(ctx, write, audit.Action.FILE_DECRYPTED, case.id, {"file_id": row.id, "size": info.size})
    return row, info


@dataclass(frozen=True)
class Classification:
    report_type: str
    categories: tuple[str, ...]
    sector: str | None
    ward_code: str | None
    urgent: bool
    protection_requested: bool
    complex: bool
    especially_complex: bool
    duplicate_of: str | None  # another case's reference


class UnknownReference(ValueError):
    """The "duplicate of" reference names no other case."""


def classify(ctx: Context, case_id: int, classification: Classification, expected_state: str) -> None:
    with ctx.db.transaction() as session:
        case = _case_for_change(ctx, session, case_id, expected_state)
        duplicate_of_id = None
        if classification.duplicate_of:
            duplicate_of_id = session.scalar(select(Case.id).where(Case.reference == classification.duplicate_of))
            if duplicate_of_id is None or duplicate_of_id == case.id:
                raise UnknownReference(classification.duplicate_of)
        session.execute(
            update(Case)
            .where(Case.id == case.id)
            .values(
                report_type=classification.report_type,
                sector=classification.sector,
                ward_code=classification.ward_code,
                urgent=classification.urgent,
                protection_requested=classification.protection_requested,
                complex=classification.complex or classification.especially_complex,
                especially_complex=classification.especially_complex,
                duplicate_of_id=duplicate_of_id,
            )
        )
        session.execute(delete(CaseCategory).where(CaseCategory.case_id == case.id))
        session.add_all(CaseCategory(case_id=case.id, category=code) for code in sorted(set(classification.categories)))
        session.add(CaseEvent(case_id=case.id, occurred_on=ctx.today, actor_id=ctx.actor.id, kind="classification"))
        _audit(ctx, session, audit.Action.CLASSIFICATION, case.id, {"report_type": classification.report_type})


def assign(ctx: Context, case_id: int, assignee_id: int | None, expected_state: str) -> None:
    if not ctx.actor.is_lead:
        raise NotAllowed
    with ctx.db.transaction() as session:
        case = _case_for_change(ctx, session, case_id, expected_state)
        if assignee_id is not None:
            assignee = session.get(Inspector, assignee_id)
            if assignee is None or not assignee.active or assignee.role == Role.ADMIN:
                raise NotAllowed
        session.execute(update(Case).where(Case.id == case.id).values(assignee_id=assignee_id))
        session.add(CaseEvent(case_id=case.id, occurred_on=ctx.today, actor_id=ctx.actor.id, kind="assignment"))
        _audit(ctx, session, audit.Action.ASSIGNMENT, case.id, {"assignee_id": assignee_id})


@dataclass(frozen=True)
class Move:
    target: State
    text: str = ""
    body: str = ""
    extension: Extension | None = None


def transition(ctx: Context, case_id: int, move: Move, expected_state: str) -> None:
    """Move a case one legal step, with what the law asks for; text meant for the reporter is sent to them."""
    with ctx.db.transaction() as session:
        case = _case_for_change(ctx, session, case_id, expected_state)
        source = case.state  # the ORM update below refreshes `case` in place
        step = lifecycle.step_to(State(source), move.target)
        if step.lead_only and not ctx.actor.is_lead:
            raise NotAllowed
        # Only an extension step takes an extension: sent with any other, it must change nothing.
        extension = move.extension if step.needs_extension else None
        clock = lifecycle.advance(
            clock_of(case),
            move.target,
            ctx.today,
            ctx.calendar,
            identified=case.report_type in IDENTIFIED_TYPES,
            extension=extension,
        )
        values = clock_values(clock)
        if step.needs_body:
            values["forwarded_to"] = move.body
        if extension == Extension.ESPECIALLY_COMPLEX:
            values.update(complex=True, especially_complex=True)
        elif extension == Extension.COMPLEX:
            values["complex"] = True
        session.execute(update(Case).where(Case.id == case.id).values(**values))
        public_key = _public_key(session, case)
        detail = {"text": move.text, "body": move.body, "extension": str(extension or "")}
        session.add(
            CaseEvent(
                case_id=case.id,
                occurred_on=ctx.today,
                actor_id=ctx.actor.id,
                kind="transition",
                from_state=source,
                to_state=str(move.target),
                sealed_detail=seal_document(EVENT_KIND, detail, [public_key])[0],
            )
        )
        if step.tells_reporter and move.text:
            _add_message(ctx, session, case, public_key, move.text)
        _audit(ctx, session, audit.Action.TRANSITION, case.id, {"from": source, "to": str(move.target)})


def send_message(
    ctx: Context,
    case_id: int,
    text: str,
    expected_state: str,
    files: Sequence[Upload] = (),
    keep_original: bool = False,
) -> None:
    """A message (with files) to the reporter. Files are cleaned and sealed before the case is locked."""
    with ctx.db.session() as read:
        case = read.get(Case, case_id)
        if case is None or not may_see(ctx.actor, case):
            raise NotAllowed
        recipients = [_public_key(read, case), case.reporter_public_key]
    prepared = attachments.prepare_all(files, keep_original, recipients)
    try:
        with ctx.db.transaction() as session:
            case = _case_for_change(ctx, session, case_id, expected_state)
            message_id = _add_message(ctx, session, case, recipients[0], text)
            attachments.store(
                session,
                prepared,
                case_id=case.id,
                message_id=message_id,
                author=INSPECTOR,
                inspector_id=ctx.actor.id,
                sent_on=ctx.today,
            )
            _audit(ctx, session, audit.Action.MESSAGE_SENT, case.id, {"files": len(prepared)} if prepared else None)
    finally:
        attachments.discard(prepared)


def add_note(ctx: Context, case_id: int, text: str, expected_state: str) -> None:
    with ctx.db.transaction() as session:
        case = _case_for_change(ctx, session, case_id, expected_state)
        sealed = seal_document(NOTE_KIND, {"text": text}, [_public_key(session, case)])[0]
        session.add(CaseNote(case_id=case.id, author_id=ctx.actor.id, written_on=ctx.today, sealed_note=sealed))
        _audit(ctx, session, audit.Action.NOTE_ADDED, case.id, None)


def reveal_identity(ctx: Context, case_id: int, reason: str, expected_state: str) -> None:
    """A lead's reasoned act: the reason is sealed into the timeline and the act into the audit trail."""
    if not ctx.actor.is_lead:
        raise NotAllowed
    with ctx.db.transaction() as session:
        case = _case_for_change(ctx, session, case_id, expected_state)
        if case.sealed_identity is None:
            raise NotAllowed
        sealed = seal_document(EVENT_KIND, {"text": reason}, [_public_key(session, case)])[0]
        session.add(
            CaseEvent(
                case_id=case.id, occurred_on=ctx.today, actor_id=ctx.actor.id, kind="reveal", sealed_detail=sealed
            )
        )
        if case.identity_revealed_on is None:
            session.execute(update(Case).where(Case.id == case.id).values(identity_revealed_on=ctx.today))
        _audit(ctx, session, audit.Action.IDENTITY_REVEALED, case.id, None)


def _case_for_change(ctx: Context, session: Session, case_id: int, expected_state: str) -> Case:
    """The case row, locked for this transaction, after checking the actor may act and nothing moved."""
    case = session.scalars(select(Case).where(Case.id == case_id).with_for_update()).one_or_none()
    if case is None or not may_see(ctx.actor, case):
        raise NotAllowed
    if case.state != expected_state:
        raise CaseChanged
    return case


def _add_message(ctx: Context, session: Session, case: Case, public_key: bytes, text: str) -> int:
    for_intake, for_reporter = seal_document(MESSAGE_KIND, {"text": text}, [public_key, case.reporter_public_key])
    message = Message(
        case_id=case.id,
        author=INSPECTOR,
        inspector_id=ctx.actor.id,
        sent_on=ctx.today,
        sealed_for_intake=for_intake,
        sealed_for_reporter=for_reporter,
    )
    session.add(message)
    session.flush()
    return message.id


def _public_key(session: Session, case: Case) -> bytes:
    return session.scalars(select(IntakeKey.public_key).where(IntakeKey.id == case.intake_key_id)).one()


def _private_key(keyring: Mapping[str, KeyPair], case: Case) -> bytes:
    pair = keyring.get(case.intake_key_id)
    if pair is None:
        raise KeyNotHeld
    return pair.private


def _audit(ctx: Context, session: Session, action: audit.Action, case_id: int, detail: dict[str, Any] | None) -> None:
    audit.record(
        session, ctx.audit_key, action, actor_id=ctx.actor.id, actor=ctx.actor.username, case_id=case_id, detail=detail
    )
