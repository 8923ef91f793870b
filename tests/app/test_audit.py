"""The audit trail on both engines: appends chain and serialise, and `verify` names what was tampered with."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from crypto.chain import GENESIS, link
from portal import audit
from portal.audit import Action
from portal.db import Database
from portal.models import AuditEvent, AuditHead

KEY = b"audit-key-for-tests-only-0123456789abcdefghij"
OTHER_KEY = b"another-audit-key-0123456789abcdefghijklmnop"
START = datetime(2026, 3, 2, 8, 15, 0, 123456)

events_table = AuditEvent.__table__
head_table = AuditHead.__table__


def append(db: Database, count: int) -> None:
    """`count` events, one transaction each, every field set so an edit to any of them is visible."""
    for number in range(count):
        with db.transaction() as session:
            audit.record(
                session,
                KEY,
                Action.CASE_VIEWED,
                actor_id=10 + number,
                actor=f"inspector.{number}",
                case_id=100 + number,
                detail={"reference": f"2026-{number:05d}", "ghi_chú": "xem hồ sơ"},
                now=START + timedelta(minutes=number),
            )


def check(db: Database, key: bytes = KEY, **options: Any) -> audit.AuditCheck:
    with db.session() as session:
        return audit.verify(session, key, **options)


def sql(db: Database, statement: Any) -> None:
    """Tampering as a database thief would: plain SQL, no key."""
    with db.engine.begin() as connection:
        connection.execute(statement)


def stored_hashes(db: Database) -> list[bytes]:
    with db.session() as session:
        return list(session.scalars(select(AuditEvent.hash).order_by(AuditEvent.id)))


def test_an_empty_trail_verifies(db: Database) -> None:
    result = check(db)
    assert result == audit.AuditCheck(ok=True, events=0, problems=[], head_hash_hex=GENESIS.hex())


def test_a_fresh_trail_verifies_and_reports_its_head(db: Database) -> None:
    append(db, 5)
    result = check(db)
    assert result.ok, result.problems
    assert result.events == 5
    assert result.problems == []
    assert result.head_hash_hex == stored_hashes(db)[-1].hex()
    with db.session() as session:
        head = session.get(AuditHead, 1)
        assert head is not None
        assert (head.last_event_id, head.last_hash.hex()) == (5, result.head_hash_hex)


def test_record_stores_every_field_and_chains_from_genesis(db: Database) -> None:
    with db.transaction() as session:
        first = audit.record(
            session, KEY, Action.LOGIN, actor_id=1, actor="admin", detail={"b": 2, "a": "Ô"}, now=START
        )
        second = audit.record(session, KEY, Action.IDENTITY_REVEALED, actor_id=1, actor="admin", case_id=7, now=START)
    assert (first.id, second.id) == (1, 2)
    assert first.previous_hash == GENESIS
    assert second.previous_hash == first.hash
    with db.session() as session:
        stored = session.get(AuditEvent, 1)
        assert stored is not None
        assert stored.action == "login"
        assert stored.detail == '{"a":"Ô","b":2}'
        assert stored.occurred_at == START
        fields = {
            "id": 1,
            "occurred_at": START.isoformat(),
            "actor_id": 1,
            "actor": "admin",
            "action": "login",
            "case_id": None,
            "detail": '{"a":"Ô","b":2}',
        }
        assert stored.hash == link(KEY, GENESIS, fields)
        assert session.get(AuditEvent, 2).detail == "{}"  # type: ignore[union-attr]


def test_an_aware_time_is_stored_as_naive_utc(db: Database) -> None:
    hanoi = timezone(timedelta(hours=7))
    with db.transaction() as session:
        audit.record(session, KEY, Action.LOGOUT, now=datetime(2026, 3, 2, 15, 15, tzinfo=hanoi))
        audit.record(session, KEY, Action.LOGOUT)
    with db.session() as session:
        times = list(session.scalars(select(AuditEvent.occurred_at).order_by(AuditEvent.id)))
    assert times[0] == datetime(2026, 3, 2, 8, 15)
    assert times[1].tzinfo is None
    assert abs(times[1] - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=1)
    assert check(db).ok


def test_a_rolled_back_append_leaves_no_gap(db: Database) -> None:
    append(db, 2)
    with pytest.raises(RuntimeError), db.transaction() as session:
        audit.record(session, KEY, Action.TRANSITION, case_id=1)
        raise RuntimeError("the audited act failed")
    append(db, 1)
    result = check(db)
    assert result.ok, result.problems
    assert result.events == 3


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("occurred_at", datetime(2020, 1, 1)),
        ("actor_id", 999),
        ("actor_id", None),
        ("actor", "someone.else"),
        ("actor", None),
        ("action", "logout"),
        ("case_id", 999),
        ("case_id", None),
        ("detail", '{"reference":"2026-99999"}'),
        ("detail", '{"reference":"2026-00002","ghi_chú":"xem hồ sơ"}'),  # same object, other key order
        ("previous_hash", b"\x01" * 32),
        ("previous_hash", b"\x01" * 16),
        ("hash", b"\x02" * 32),
    ],
)
def test_editing_any_field_of_a_middle_event_is_named(db: Database, column: str, value: Any) -> None:
    append(db, 5)
    sql(db, update(events_table).where(events_table.c.id == 3).values({column: value}))
    result = check(db)
    assert not result.ok
    assert any(line.startswith("event 3: ") for line in result.problems), result.problems
    assert not any(line.startswith(("event 1:", "event 2:", "event 5:")) for line in result.problems)


def test_editing_the_content_says_edited(db: Database) -> None:
    append(db, 5)
    sql(db, update(events_table).where(events_table.c.id == 3).values(actor="someone.else"))
    assert check(db).problems == ["event 3: hash does not match its content (edited?)"]


def test_deleting_a_middle_event_is_named(db: Database) -> None:
    append(db, 5)
    sql(db, delete(events_table).where(events_table.c.id == 3))
    result = check(db)
    assert not result.ok
    assert result.problems == ["event 3 missing (deleted?)"]
    assert result.events == 4


def test_deleting_several_events_is_one_line(db: Database) -> None:
    append(db, 6)
    sql(db, delete(events_table).where(events_table.c.id.in_([1, 2, 4, 5])))
    assert check(db).problems == ["events 1 to 2 missing (deleted?)", "events 4 to 5 missing (deleted?)"]


def test_deleting_the_last_event_shows_at_the_head(db: Database) -> None:
    append(db, 5)
    sql(db, delete(events_table).where(events_table.c.id == 5))
    result = check(db)
    assert not result.ok
    assert result.problems == ["event 5 missing at the end (deleted?)"]


def test_deleting_the_whole_trail_shows_at_the_head(db: Database) -> None:
    append(db, 3)
    sql(db, delete(events_table))
    assert check(db).problems == ["events 1 to 3 missing at the end (deleted?)"]


def test_cutting_the_tail_and_rolling_back_the_head_needs_the_outside_copy(db: Database) -> None:
    append(db, 5)
    kept_outside = check(db).head_hash_hex
    fourth = stored_hashes(db)[3]
    sql(db, delete(events_table).where(events_table.c.id == 5))
    sql(db, update(head_table).values(last_event_id=4, last_hash=fourth))
    result = check(db)
    assert result.ok  # the documented limit of the chain on its own...
    assert result.head_hash_hex != kept_outside  # ...which the copy kept outside the database catches


def test_swapping_two_events_details_names_both(db: Database) -> None:
    append(db, 5)
    with db.session() as session:
        second, fourth = (session.get(AuditEvent, number).detail for number in (2, 4))  # type: ignore[union-attr]
    sql(db, update(events_table).where(events_table.c.id == 2).values(detail=fourth))
    sql(db, update(events_table).where(events_table.c.id == 4).values(detail=second))
    assert check(db).problems == [
        "event 2: hash does not match its content (edited?)",
        "event 4: hash does not match its content (edited?)",
    ]


def test_swapping_two_events_order_is_caught(db: Database) -> None:
    append(db, 5)
    sql(db, update(events_table).where(events_table.c.id == 2).values(id=-2))
    sql(db, update(events_table).where(events_table.c.id == 4).values(id=2))
    sql(db, update(events_table).where(events_table.c.id == -2).values(id=4))
    result = check(db)
    assert not result.ok
    assert {line.split(":")[0] for line in result.problems} == {"event 2", "event 3", "event 4", "event 5"}


def test_a_renumbered_or_rechained_first_event_is_caught(db: Database) -> None:
    append(db, 3)
    sql(db, update(events_table).where(events_table.c.id == 1).values(previous_hash=b"\x05" * 32))
    assert check(db).problems == [
        "event 1: previous hash is not the genesis value (edited or reordered?)",
        "event 1: hash does not match its content (edited?)",
    ]
    sql(db, update(events_table).where(events_table.c.id == 1).values(id=0))
    assert check(db).problems[:2] == [
        "event 0: not a valid event number (inserted or renumbered?)",
        "event 0: hash does not match its content (edited?)",
    ]


def test_a_forged_event_after_the_head_is_caught(db: Database) -> None:
    append(db, 3)
    last = stored_hashes(db)[-1]
    row = {
        "id": 4,
        "occurred_at": START,
        "actor_id": 1,
        "actor": "admin",
        "action": "login",
        "case_id": None,
        "detail": "{}",
        "previous_hash": last,
        "hash": b"\x03" * 32,
    }
    sql(db, events_table.insert().values(row))
    assert check(db).problems == [
        "event 4: hash does not match its content (edited?)",
        "the head names event 3 but the trail goes on to event 4 (head rolled back?)",
    ]


def test_an_edited_or_missing_head_is_caught(db: Database) -> None:
    append(db, 3)
    sql(db, update(head_table).values(last_hash=b"\x04" * 32))
    assert check(db).problems == ["the head's hash is not the hash of event 3 (head or event edited?)"]
    sql(db, delete(head_table))
    assert check(db).problems == ["the head row is missing (deleted?)"]


def test_a_wrong_key_fails_every_event_and_says_so(db: Database) -> None:
    append(db, 3)
    result = check(db, OTHER_KEY)
    assert not result.ok
    assert result.problems == [
        "no event's hash matches: is this the right audit key?",
        "event 1: hash does not match its content (edited?)",
        "event 2: hash does not match its content (edited?)",
        "event 3: hash does not match its content (edited?)",
    ]


def test_problems_are_capped_with_a_count(db: Database) -> None:
    append(db, 6)
    result = check(db, OTHER_KEY, max_problems=2)
    assert result.problems == [
        "no event's hash matches: is this the right audit key?",
        "event 1: hash does not match its content (edited?)",
        "event 2: hash does not match its content (edited?)",
        "and 4 more problems",
    ]


def test_verify_streams_across_batches(db: Database) -> None:
    append(db, 10)
    result = check(db, batch_size=3)
    assert (result.ok, result.events) == (True, 10)
    sql(db, update(events_table).where(events_table.c.id == 7).values(case_id=1))
    assert check(db, batch_size=3).problems == ["event 7: hash does not match its content (edited?)"]


def test_short_key_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"), db.transaction() as session:
        audit.record(session, b"short", Action.LOGIN)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        check(db, b"short")


def test_unknown_action_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="report_decrypted"), db.transaction() as session:
        audit.record(session, KEY, "report_decrypted")  # type: ignore[arg-type]
    assert check(db).events == 0


@pytest.mark.parametrize(
    "detail",
    [
        {"password": "hunter2"},
        {"new_Password_hash": "x"},
        {"totp_code": "123456"},
        {"receipt": "ABCD-EFGH"},
        {"changes": [{"session_token": "x"}]},
        {"nested": {"recovery_passphrase": "x"}},
    ],
)
def test_detail_that_looks_like_a_secret_is_refused(db: Database, detail: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must not hold secrets"), db.transaction() as session:
        audit.record(session, KEY, Action.PASSWORD_CHANGED, actor_id=1, detail=detail)
    assert check(db).events == 0


def test_action_names_are_stable_lowercase() -> None:
    assert Action.CASE_VIEWED == "case_viewed"
    assert Action.LOGIN_FAILED.value == "login_failed"
    assert all(len(action.value) <= 32 for action in Action)


def test_concurrent_appends_form_one_contiguous_chain(db: Database) -> None:
    threads_count, per_thread = 8, 25
    errors: list[BaseException] = []
    start = threading.Barrier(threads_count)

    def worker(number: int) -> None:
        start.wait()  # the first appends race to create the head row
        for index in range(per_thread):
            try:
                with db.transaction() as session:
                    audit.record(session, KEY, Action.NOTE_ADDED, actor_id=number, case_id=index)
            except BaseException as exc:  # noqa: BLE001 - every failure is a lost audit event
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    result = check(db)
    assert result.ok, result.problems
    assert result.events == threads_count * per_thread
    with db.session() as session:
        rows = session.execute(select(AuditEvent.id, AuditEvent.actor_id, AuditEvent.case_id)).all()
    assert sorted(row.id for row in rows) == list(range(1, threads_count * per_thread + 1))
    assert sorted((row.actor_id, row.case_id) for row in rows) == [
        (number, index) for number in range(threads_count) for index in range(per_thread)
    ]


def test_recent_filters_and_paginates_newest_first(db: Database) -> None:
    with db.transaction() as session:
        for number in range(1, 13):
            audit.record(
                session,
                KEY,
                Action.CASE_VIEWED if number % 3 else Action.FILE_DECRYPTED,
                actor_id=number % 2,
                actor="lan" if number % 2 else "minh",
                case_id=number % 4,
                now=START,
            )

    def ids(**filters: Any) -> list[int]:
        with db.session() as session:
            return [event.id for event in audit.recent(session, **filters)]

    assert ids(limit=5) == [12, 11, 10, 9, 8]
    assert ids(limit=5, before_id=8) == [7, 6, 5, 4, 3]
    assert ids(limit=5, before_id=3) == [2, 1]
    assert ids(limit=5, before_id=1) == []
    assert ids(limit=10, action="file_decrypted") == [12, 9, 6, 3]
    assert ids(limit=10, action=Action.FILE_DECRYPTED, before_id=9) == [6, 3]
    assert ids(limit=10, actor="lan") == [11, 9, 7, 5, 3, 1]
    assert ids(limit=10, case_id=0) == [12, 8, 4]
    assert ids(limit=10, actor="minh", action="case_viewed", case_id=2) == [10, 2]
    assert ids(limit=10, actor="nobody") == []
    with db.session() as session:
        event = audit.recent(session, limit=1)[0]
    assert (event.action, event.actor, event.occurred_at) == ("file_decrypted", "minh", START)
    with pytest.raises(ValueError, match="limit"), db.session() as session:
        audit.recent(session, limit=0)


def test_every_action_has_a_label_for_the_admin_page() -> None:
    from portal.reviewer.admin import ACTION_LABELS

    assert set(ACTION_LABELS) == set(audit.Action)
