"""The audit trail of the reviewer app: append-only, hash-chained, verifiable.

Why it exists: the threat model's first adversary may sit inside the inspectorate. Every time an
account logs in, opens a case, decrypts a file or reveals an identity, one event is appended here,
so that who saw what can be shown later, and a quiet edit of that record can be detected.

How tampering shows: each event's `hash` is an HMAC-SHA256 link over the previous event's hash and
every stored field of the event (`crypto.chain`). The HMAC key (AUDIT_KEY) lives only in the
reviewer app's configuration, so someone holding only the database (or a backup) can read the
trail but cannot edit, delete, reorder or insert an event without `verify` noticing. The single
`audit_head` row holds the last event's number and hash: appends serialise on it, and a deleted
tail shows as a head that names an event that is gone.

What `verify` cannot see on its own: someone who deletes the tail AND rolls the head back to the
true hash of an earlier event leaves a shorter trail that checks. Only a copy of the head hash
kept outside the database (printed by the CLI, kept with the backups, sent elsewhere) shows that;
`verify` returns the head hash and the number of events for that comparison.

Event ids are assigned here (1, 2, 3, …, no gaps) rather than by a sequence, because a sequence
leaves gaps on rollback and a gap must mean a deletion.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum, auto
from typing import Any, Protocol

from sqlalchemy import Row, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crypto.chain import GENESIS, link, require_key
from crypto.sealing import canonical_json
from portal.models import AuditEvent, AuditHead

HEAD_ID = 1
VERIFY_BATCH = 2000
MAX_PROBLEMS = 100
# The actor of an act done at the server's command line, where no account is logged in.
COMMAND_LINE = "(command line)"

# Key names that would mean a secret is about to be written in clear into a table every admin reads.
_FORBIDDEN_DETAIL_KEYS = ("password", "passphrase", "secret", "totp", "receipt", "token", "private_key")


class Action(StrEnum):
    """Every kind of audited act, in one place; stored as the lowercase name (e.g. "case_viewed")."""

    # Accounts and sessions
    LOGIN = auto()
    LOGIN_FAILED = auto()
    LOGOUT = auto()
    SESSION_EXPIRED = auto()
    TOTP_ENROLLED = auto()
    PASSWORD_CHANGED = auto()
    ACCOUNT_CREATED = auto()
    ACCOUNT_DEACTIVATED = auto()
    ACCOUNT_UNLOCKED = auto()
    # Reading sealed content: opening a case decrypts its report
    CASE_VIEWED = auto()
    FILE_DECRYPTED = auto()
    CASE_EXPORTED = auto()
    IDENTITY_REVEALED = auto()
    # Handling a case
    TRANSITION = auto()
    ASSIGNMENT = auto()
    CLASSIFICATION = auto()
    MESSAGE_SENT = auto()
    NOTE_ADDED = auto()
    # Reading the trail itself: who looked at who looked
    AUDIT_VIEWED = auto()
    # Custody of the intake keys (command line)
    KEY_CREATED = auto()
    KEY_ROTATED = auto()
    RECOVERY_PASSPHRASE_CHANGED = auto()
    # Backups of the whole database (command line)
    BACKUP_CREATED = auto()
    BACKUP_RESTORED = auto()
    # Retention: ended cases deleted once their period is over (command line)
    CASE_PURGE_STARTED = auto()
    CASE_PURGED = auto()


@dataclass
class AuditCheck:
    """The result of `verify`.

    `head_hash_hex` is the stored hash of the last event checked (GENESIS for an empty trail). Keep
    it, with `events`, somewhere outside the database: a later run whose chain no longer passes
    through that hash at that event shows a cut-and-rolled-back tail that `ok` alone cannot.
    """

    ok: bool
    events: int
    problems: list[str] = field(default_factory=list)
    head_hash_hex: str = GENESIS.hex()


class _Chained(Protocol):
    id: int
    occurred_at: datetime
    actor_id: int | None
    actor: str | None
    action: str
    case_id: int | None
    detail: str


def record(
    session: Session,
    key: bytes,
    action: Action,
    *,
    actor_id: int | None = None,
    actor: str | None = None,
    case_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Append one event inside the caller's write transaction (`with db.transaction() as session:`).

    Recording in the same transaction as the act itself means the act and its trace commit or
    roll back together: no audited act without its event, and no number used by a rolled-back one.

    Appends serialise on the head row: PostgreSQL locks it (SELECT … FOR UPDATE) until commit;
    SQLite needs no row lock because `db.transaction()` begins with BEGIN IMMEDIATE, which already
    admits one writer at a time. The head row is created on first use with INSERT … ON CONFLICT DO
    NOTHING, so two concurrent first appends on PostgreSQL do not both create it: the second waits
    for the first to commit, then locks the row the first one made.

    `detail` is a small JSON object stored as canonical JSON text and covered by the hash: ids,
    states, counts, reference numbers. It must never hold anything a reporter wrote (report text,
    file names, messages, identities), nor passwords, TOTP codes, receipts, tokens or keys: every
    admin reads this table, and it is not encrypted. Free text an inspector writes about a case
    belongs sealed in the case timeline, not here. Keys that look like secrets are refused.
    """
    require_key(key)
    action = Action(action)  # a plain string that is not one of the actions is refused
    detail_text = canonical_json(_checked_detail(detail or {})).decode("utf-8")
    head = _lock_head(session)
    event = AuditEvent(
        id=head.last_event_id + 1,
        occurred_at=_utc_naive(now),
        actor_id=actor_id,
        actor=actor,
        action=action.value,
        case_id=case_id,
        detail=detail_text,
        previous_hash=head.last_hash,
    )
    event.hash = link(key, head.last_hash, _chained_fields(event))
    session.add(event)
    session.execute(
        update(AuditHead).where(AuditHead.id == HEAD_ID).values(last_event_id=event.id, last_hash=event.hash),
        # No search of the identity map for head objects to refresh: it would cost O(events in the session).
        execution_options={"synchronize_session": False},
    )
    session.flush()
    return event


def verify(
    session: Session, key: bytes, *, batch_size: int = VERIFY_BATCH, max_problems: int = MAX_PROBLEMS
) -> AuditCheck:
    """Check the whole trail in id order, in constant memory (rows are streamed, not loaded).

    Checks: ids run 1..n without gaps (a gap is a deleted event), each event's previous hash is the
    prior event's hash (reordering, insertion), each hash recomputes from the event's fields with
    the key (an edited field), and the head row names the last event and its hash (a deleted tail).
    At most `max_problems` lines are listed, then a count of the rest.

    It can run while inspectors keep working. The head is read before the events and again after:
    on PostgreSQL each statement sees the commits made before it, so events appended meanwhile
    appear after the first head and are accepted once they chain and a later head covers them.
    SQLite reads one snapshot throughout.

    Not caught here: a tail cut together with the head rolled back to an earlier true value. That
    needs the returned `head_hash_hex` compared with a copy kept outside the database.
    """
    require_key(key)
    problems: list[str] = []
    total_problems = 0

    def problem(line: str) -> None:
        nonlocal total_problems
        total_problems += 1
        if len(problems) < max_problems:
            problems.append(line)

    head_before = _read_head(session)
    head_id = head_before.last_event_id if head_before is not None else 0
    hash_at_head: bytes | None = GENESIS if head_id == 0 else None
    events = unmatched = last_id = 0
    previous = GENESIS
    columns = (
        AuditEvent.id,
        AuditEvent.occurred_at,
        AuditEvent.actor_id,
        AuditEvent.actor,
        AuditEvent.action,
        AuditEvent.case_id,
        AuditEvent.detail,
        AuditEvent.previous_hash,
        AuditEvent.hash,
    )
    result = session.execute(select(*columns).order_by(AuditEvent.id).execution_options(yield_per=batch_size))
    try:
        for row in result:
            events += 1
            if row.id <= last_id:  # only a number below 1 can sort before the first event
                problem(f"event {row.id}: not a valid event number (inserted or renumbered?)")
            elif row.id != last_id + 1:
                problem(_missing(last_id + 1, row.id - 1))
            elif not hmac.compare_digest(row.previous_hash, previous):
                prior = f"event {last_id}'s hash" if last_id else "the genesis value"
                problem(f"event {row.id}: previous hash is not {prior} (edited or reordered?)")
            if not _hash_matches(key, row):
                unmatched += 1
                problem(f"event {row.id}: hash does not match its content (edited?)")
            previous, last_id = row.hash, row.id
            if row.id == head_id:
                hash_at_head = row.hash
    finally:
        result.close()

    if head_before is None:
        if events:
            problem("the head row is missing (deleted?)")
    elif last_id < head_id:
        problem(_missing(last_id + 1, head_id, at_end=True))
    else:
        if hash_at_head is not None and not hmac.compare_digest(head_before.last_hash, hash_at_head):
            problem(f"the head's hash is not the hash of event {head_id} (head or event edited?)")
        if last_id > head_id:
            _check_later_head(_read_head(session), last_id, previous, problem)

    if total_problems > len(problems):
        problems.append(f"and {total_problems - len(problems)} more problems")
    if events and unmatched == events:
        problems.insert(0, "no event's hash matches: is this the right audit key?")
    return AuditCheck(ok=total_problems == 0, events=events, problems=problems, head_hash_hex=previous.hex())


def recent(
    session: Session,
    *,
    limit: int,
    before_id: int | None = None,
    action: str | None = None,
    actor: str | None = None,
    case_id: int | None = None,
) -> list[AuditEvent]:
    """Events newest first, for the admin page; the next page is `before_id=<last id shown>`.

    Keyset pagination on the primary key: every page is one index range scan however deep it is,
    and a page does not shift when events are appended while an admin reads.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    if case_id is not None:
        query = query.where(AuditEvent.case_id == case_id)
    return list(session.scalars(query))


def _chained_fields(event: _Chained) -> dict[str, Any]:
    """Every stored field but the hashes themselves (the previous hash enters the link separately)."""
    return {
        "id": event.id,
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor": event.actor,
        "action": event.action,
        "case_id": event.case_id,
        "detail": event.detail,
    }


def _hash_matches(key: bytes, row: Row[Any]) -> bool:
    try:
        expected = link(key, row.previous_hash, _chained_fields(row))
    except ValueError:  # a previous hash of the wrong length: the row was edited
        return False
    return hmac.compare_digest(expected, row.hash)


def _lock_head(session: Session) -> Row[Any]:
    query = select(AuditHead.last_event_id, AuditHead.last_hash).where(AuditHead.id == HEAD_ID).with_for_update()
    head = session.execute(query).one_or_none()
    if head is None:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            dialect.insert(AuditHead)
            .values(id=HEAD_ID, last_event_id=0, last_hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        head = session.execute(query).one()
    return head


def _read_head(session: Session) -> Row[Any] | None:
    query = select(AuditHead.last_event_id, AuditHead.last_hash).where(AuditHead.id == HEAD_ID)
    return session.execute(query).one_or_none()


def _check_later_head(head: Row[Any] | None, last_id: int, last_hash: bytes, problem: Callable[[str], None]) -> None:
    """Events beyond the first head read: appended meanwhile, or rows the head never covered."""
    if head is None:
        problem("the head row is missing (deleted?)")
    elif head.last_event_id < last_id:
        problem(
            f"the head names event {head.last_event_id} but the trail goes on to event {last_id} (head rolled back?)"
        )
    elif head.last_event_id == last_id and not hmac.compare_digest(head.last_hash, last_hash):
        problem(f"the head's hash is not the hash of event {last_id} (head or event edited?)")
    # head.last_event_id > last_id: more events were committed after the rows were read; fine.


def _missing(first: int, last: int, *, at_end: bool = False) -> str:
    where = " at the end" if at_end else ""
    if first == last:
        return f"event {first} missing{where} (deleted?)"
    return f"events {first} to {last} missing{where} (deleted?)"


def _checked_detail(detail: Mapping[str, Any]) -> Mapping[str, Any]:
    _refuse_secret_keys(detail)
    return detail


def _refuse_secret_keys(value: Any) -> None:
    if isinstance(value, Mapping):
        for name, item in value.items():
            lowered = str(name).lower()
            if any(fragment in lowered for fragment in _FORBIDDEN_DETAIL_KEYS):
                raise ValueError(f"audit detail must not hold secrets: key {name!r} refused")
            _refuse_secret_keys(item)
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        for item in value:
            _refuse_secret_keys(item)


def _utc_naive(now: datetime | None) -> datetime:
    """Naive UTC, as the column stores it; an aware time is converted, a naive one taken as UTC."""
    if now is None:
        now = datetime.now(UTC)
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    return now
