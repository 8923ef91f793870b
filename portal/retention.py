"""Retention: which cases are kept how long, when each is deleted, and the deletion itself.

Why: everything a reporter sent stays here, sealed, for as long as its case exists, and a key that
leaks one day opens all of it. A case the inspectorate no longer needs is only a risk to the person
who reported, so once its retention period is over it is deleted with everything it owns. The
periods and why they are what they are: docs/RETENTION.md.

The rules:
- Only an ended case is ever deleted: CLOSED, NOT_ACCEPTED (a re-denunciation can still reopen it)
  and ARCHIVED_INSUFFICIENT (new evidence from the reporter can still reopen it). Every other state
  is handling in progress or waits for a lead to close the case, and is kept however old it is.
- The clock starts on `state_since`, the day the case entered its ended state: reopening or
  re-denouncing a case stops it, and ending the case again starts a new period.
- A case that another case names as its original (`duplicate_of_id`) is kept as long as that other
  case is kept: the duplicate's handling may rely on it, and a row it points at cannot go anyway.

The policy is pure (`Policy`, `purge_dates`); the rest reads and deletes rows.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Row, delete, exists, select, update
from sqlalchemy.orm import Session

from portal import audit
from portal.db import Database
from portal.lifecycle import State
from portal.models import Attachment, AttachmentChunk, Case

# Defaults, justified in docs/RETENTION.md; RETENTION_YEARS_<STATE> changes each (portal/settings.py).
DEFAULT_RETENTION_YEARS: dict[State, int] = {
    State.CLOSED: 10,
    State.NOT_ACCEPTED: 5,
    State.ARCHIVED_INSUFFICIENT: 5,
}
MAX_RETENTION_YEARS = 100
# The reviewer app lists what goes within this many days, so a lead can still act on it.
WARNING_DAYS = 30
# Chunks deleted per transaction: 16 MiB, about 0.1 s of write lock on SQLite with secure_delete (docs/RETENTION.md).
CHUNK_BATCH = 256
# Case ids per IN (...) list when following duplicates.
ID_BATCH = 500


def add_years(day: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 1 March, never a day short of whole years."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


@dataclass(frozen=True)
class Policy:
    """Whole years each ended state is kept, counted from the day the case entered it."""

    years: Mapping[str, int]  # an ended state → its years (settings' RETENTION_YEARS)

    def purge_on(self, state: str, since: date) -> date | None:
        """The day a case in `state` since `since` is deleted; None while it is not ended."""
        years = self.years.get(state)
        return None if years is None else add_years(since, years)


def purge_dates(own: Mapping[int, date | None], originals: Mapping[int, int | None]) -> dict[int, date | None]:
    """The day each case goes, holding an original until every case that names it is gone too.

    `own` is each case's date by itself (None while it is not ended); `originals` is each case's
    `duplicate_of_id`, for every case in `own`. A case's date is the latest of its own and those of
    all cases naming it as original, directly or through others; None when one of them is not ended,
    or when the links go round in a loop.
    """
    naming: dict[int, list[int]] = defaultdict(list)
    for case_id, original in originals.items():
        if original is not None:
            naming[original].append(case_id)
    dates: dict[int, date | None] = {}

    def date_of(case_id: int, path: frozenset[int]) -> date | None:
        if case_id in dates:
            return dates[case_id]
        if case_id in path:
            return None
        found = own[case_id]
        for duplicate in naming[case_id]:
            held = date_of(duplicate, path | {case_id})
            found = None if found is None or held is None else max(found, held)
        dates[case_id] = found
        return found

    for case_id in own:
        date_of(case_id, frozenset())
    return dates


@dataclass(frozen=True)
class DueCase:
    """A case that will be deleted, with what the warning list and the audit trail show of it."""

    id: int
    reference: str
    state: State
    state_since: date
    purge_on: date
    duplicate_of_id: int | None

    def days_left(self, today: date) -> int:
        return (self.purge_on - today).days

    def audit_detail(self, files: int) -> dict[str, str | int]:
        """Plaintext only: the reference, the state and its dates, how many files went with it."""
        return {
            "reference": self.reference,
            "state": str(self.state),
            "state_since": self.state_since.isoformat(),
            "purge_on": self.purge_on.isoformat(),
            "files": files,
        }


def due_by(session: Session, policy: Policy, horizon: date) -> list[DueCase]:
    """Every case deleted on or before `horizon`, soonest first; reads plaintext columns only."""
    own: dict[int, date | None] = {}
    candidates: list[Row[Any]] = []
    for state, years in policy.years.items():
        # Entered `state` on or before this day (a bound for the index; `purge_on` decides exactly).
        query = select(*_COLUMNS).where(Case.state == state, Case.state_since <= add_years(horizon, -years))
        for row in session.execute(query):
            day = _own_date(policy, row)
            if day is not None and day <= horizon:
                own[row.id] = day
                candidates.append(row)
    originals = {row.id: row.duplicate_of_id for row in candidates}
    frontier = list(own)
    while frontier:  # the cases naming these as their original, then the cases naming those, …
        named = [
            row
            for start in range(0, len(frontier), ID_BATCH)
            for row in session.execute(
                select(*_COLUMNS).where(Case.duplicate_of_id.in_(frontier[start : start + ID_BATCH]))
            )
            if row.id not in own
        ]
        own |= {row.id: _own_date(policy, row) for row in named}
        originals |= {row.id: row.duplicate_of_id for row in named}
        frontier = [row.id for row in named]
    dates = purge_dates(own, originals)
    due = [
        DueCase(row.id, row.reference, State(row.state), row.state_since, day, row.duplicate_of_id)
        for row in candidates
        if (day := dates[row.id]) is not None and day <= horizon
    ]
    return sorted(due, key=lambda case: (case.purge_on, case.reference))


_COLUMNS = (Case.id, Case.reference, Case.state, Case.state_since, Case.duplicate_of_id)


def _own_date(policy: Policy, row: Row[Any]) -> date | None:
    return policy.purge_on(row.state, row.state_since)


@dataclass(frozen=True)
class PurgeResult:
    """How one case of a purge run went: deleted with its files, or left because it changed meanwhile."""

    case: DueCase
    deleted: bool
    files: int = 0


def purge(db: Database, policy: Policy, audit_key: bytes, today: date) -> Iterator[PurgeResult]:
    """Delete every case due by `today`, one case after the other, each as it goes."""
    with db.session() as session:
        due = due_by(session, policy, today)
    for case in duplicates_first(due):
        yield purge_case(db, policy, audit_key, case, today)


def duplicates_first(cases: Iterable[DueCase]) -> list[DueCase]:
    """The order to delete in: a case naming another as its original goes before that original."""
    by_id = {case.id: case for case in cases}

    def links(case: DueCase) -> int:
        count = 0
        while case.duplicate_of_id in by_id:  # due cases never loop: purge_dates holds a loop forever
            case, count = by_id[case.duplicate_of_id], count + 1
        return count

    return sorted(by_id.values(), key=links, reverse=True)


def purge_case(db: Database, policy: Policy, audit_key: bytes, case: DueCase, today: date) -> PurgeResult:
    """Delete one case with everything it owns, in the transaction that records it in the audit trail.

    Messages, notes, the timeline, categories, files and their chunks go through the foreign keys'
    ON DELETE CASCADE. A case whose files fit in one batch goes in one short transaction. A bigger
    one first records that its deletion has begun and turns its receipt off, then loses its chunks a
    batch per transaction, then the rest: a crash half-way leaves an audited deletion that the next
    run finishes, never a deletion without its audit event, nor an event for a deletion not made.
    """
    with db.transaction() as session:
        files = _lock_if_due(session, policy, case.id, today)
        if files is None:
            return PurgeResult(case, deleted=False)
        detail = case.audit_detail(len(files))
        if sum(files.values()) <= CHUNK_BATCH:
            _delete(session, audit_key, case, detail)
            return PurgeResult(case, deleted=True, files=len(files))
        _record(session, audit_key, audit.Action.CASE_PURGE_STARTED, case, detail)
        # The receipt finds nothing from now on: the reporter cannot reopen a case whose files are going.
        session.execute(update(Case).where(Case.id == case.id).values(lookup_id=os.urandom(32)))
    for attachment_id, chunk_count in files.items():
        for start in range(0, chunk_count, CHUNK_BATCH):
            with db.transaction() as session:
                session.execute(
                    delete(AttachmentChunk).where(
                        AttachmentChunk.attachment_id == attachment_id,
                        AttachmentChunk.seq >= start,
                        AttachmentChunk.seq < start + CHUNK_BATCH,
                    )
                )
    with db.transaction() as session:
        if _lock(session, case.id) is None or _named_as_original(session, case.id):
            return PurgeResult(case, deleted=False)
        _delete(session, audit_key, case, detail)
    return PurgeResult(case, deleted=True, files=len(files))


def empty_sqlite_log(db: Database) -> bool:
    """Empty SQLite's write-ahead log, which keeps copies of pages written before until they are overwritten,
    the deleted rows among them; False when readers kept it busy (the next run tries again).

    SQLite itself zeroes the pages deleted rows leave in the database file (secure_delete, portal/db.py).
    PostgreSQL keeps them until VACUUM and beyond: docs/RETENTION.md.
    """
    connection = db.engine.raw_connection()
    try:
        busy, _, _ = connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()  # type: ignore[union-attr]
    finally:
        connection.close()
    return busy == 0


def _lock_if_due(session: Session, policy: Policy, case_id: int, today: date) -> dict[int, int] | None:
    """The case's files (id → chunks) when it is still due; None when it changed since it was listed."""
    row = _lock(session, case_id)
    if row is None:
        return None
    day = policy.purge_on(row.state, row.state_since)
    if day is None or day > today or _named_as_original(session, case_id):
        return None
    query = select(Attachment.id, Attachment.chunk_count).where(Attachment.case_id == case_id)
    return {attachment_id: chunks for attachment_id, chunks in session.execute(query)}


def _lock(session: Session, case_id: int) -> Row[Any] | None:
    """The case's row, locked until commit on PostgreSQL (SQLite's BEGIN IMMEDIATE already admits one writer)."""
    query = select(Case.state, Case.state_since).where(Case.id == case_id).with_for_update()
    return session.execute(query).one_or_none()


def _named_as_original(session: Session, case_id: int) -> bool:
    return bool(session.scalar(select(exists().where(Case.duplicate_of_id == case_id))))


def _delete(session: Session, audit_key: bytes, case: DueCase, detail: Mapping[str, Any]) -> None:
    session.execute(delete(Case).where(Case.id == case.id))
    _record(session, audit_key, audit.Action.CASE_PURGED, case, detail)


def _record(session: Session, audit_key: bytes, action: audit.Action, case: DueCase, detail: Mapping[str, Any]) -> None:
    audit.record(session, audit_key, action, actor=audit.COMMAND_LINE, case_id=case.id, detail=detail)
