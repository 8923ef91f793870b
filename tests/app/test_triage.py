"""The triage queue on both engines: every filter, their combination, the deadline order, pages and
counts, what a plain inspector may list, and query strings a person could hand-edit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event
from werkzeug.datastructures import MultiDict

from portal.db import Database
from portal.lifecycle import State
from portal.taxonomy import wards
from portal.triage import FLAGS, QueueFilter, QueuePage, parse_filter, parse_page, queue
from tests.factories import TODAY, Factory

W1, W2 = wards()[0].code, wards()[1].code


@pytest.fixture
def make(db: Database) -> Factory:
    return Factory(db)


@pytest.fixture
def people(make: Factory) -> dict[str, int]:
    return {"alice": make.inspector("alice"), "bob": make.inspector("bob"), "lead": make.inspector("lead", "lead")}


@pytest.fixture
def cases(make: Factory, people: dict[str, int]) -> dict[str, int]:
    """Six cases, each matching a different mix of criteria."""
    ids: dict[str, int] = {}
    ids["a"] = make.case(
        "a", state=State.RECEIVED, answer_due_on=TODAY + timedelta(days=2), categories=("BRIBERY",),
        sector="LAND", ward_code=W1, urgent=True,
    )  # fmt: skip
    ids["b"] = make.case(
        "b", state=State.TRIAGE, report_type="TO_CAO", anonymous=False, answer_due_on=TODAY - timedelta(days=1),
        categories=("BRIBERY", "WASTE"), sector="CONSTRUCTION", ward_code=W2, assignee_id=people["alice"],
        protection_requested=True,
    )  # fmt: skip
    ids["c"] = make.case(
        "c", state=State.NEED_INFO, report_type="PHAN_ANH", categories=("ETHICS",), sector="LAND", ward_code=W1,
        assignee_id=people["bob"], duplicate_of_id=ids["a"], received_on=TODAY - timedelta(days=20),
    )  # fmt: skip
    ids["d"] = make.case(
        "d", state=State.VERIFYING, report_type="TO_CAO", anonymous=False, answer_due_on=TODAY + timedelta(days=10),
        categories=("WASTE",), sector="LAND", assignee_id=people["alice"], complex=True,
    )  # fmt: skip
    ids["e"] = make.case(
        "e", state=State.CLOSED, report_type="KIEN_NGHI", assignee_id=people["bob"], especially_complex=True,
        received_on=TODAY - timedelta(days=10),
    )  # fmt: skip
    ids["f"] = make.case(
        "f", state=State.ACCEPTED, answer_due_on=TODAY, sector="HEALTH", ward_code=W2, assignee_id=people["bob"],
        urgent=True, complex=True,
    )  # fmt: skip
    return ids


def run(db: Database, flt: QueueFilter, **kwargs: Any) -> QueuePage:
    with db.session() as session:
        page = queue(session, flt, today=TODAY, **kwargs)
        for case in page.rows:
            _ = case.categories
    return page


def names(page: QueuePage) -> list[str]:
    return [case.reference for case in page.rows]


FILTERS: list[tuple[dict[str, Any], set[str]]] = [
    ({}, {"a", "b", "c", "d", "e", "f"}),
    ({"states": ("RECEIVED", "TRIAGE")}, {"a", "b"}),
    ({"states": ("CLOSED",)}, {"e"}),
    ({"report_type": "TO_CAO"}, {"b", "d"}),
    ({"category": "BRIBERY"}, {"a", "b"}),
    ({"category": "WASTE"}, {"b", "d"}),
    ({"category": "RETALIATION"}, set()),
    ({"sector": "LAND"}, {"a", "c", "d"}),
    ({"ward_code": W1}, {"a", "c"}),
    ({"assignee": "none"}, {"a"}),
    ({"flags": ("urgent",)}, {"a", "f"}),
    ({"flags": ("protection_requested",)}, {"b"}),
    ({"flags": ("complex",)}, {"d", "f"}),
    ({"flags": ("especially_complex",)}, {"e"}),
    ({"flags": ("duplicate",)}, {"c"}),
    ({"flags": ("anonymous",)}, {"a", "c", "e", "f"}),
    ({"flags": ("urgent", "complex")}, {"f"}),
    ({"overdue": True}, {"b"}),
    ({"due_within_days": 0}, {"f"}),
    ({"due_within_days": 2}, {"a", "f"}),
    ({"due_within_days": 10}, {"a", "d", "f"}),
]


@pytest.mark.parametrize(("criteria", "expected"), FILTERS, ids=[repr(c) for c, _ in FILTERS])
def test_each_filter_selects_exactly_its_cases(
    db: Database, cases: dict[str, int], criteria: dict[str, Any], expected: set[str]
) -> None:
    page = run(db, QueueFilter(**criteria))
    assert set(names(page)) == expected
    assert page.total == len(expected)


def test_filter_by_assignee(db: Database, cases: dict[str, int], people: dict[str, int]) -> None:
    assert set(names(run(db, QueueFilter(assignee=people["alice"])))) == {"b", "d"}
    assert set(names(run(db, QueueFilter(assignee=people["bob"])))) == {"c", "e", "f"}
    assert names(run(db, QueueFilter(assignee=people["lead"]))) == []


def test_criteria_combine_with_and(db: Database, cases: dict[str, int], people: dict[str, int]) -> None:
    combined = QueueFilter(
        states=("VERIFYING", "RECEIVED"),
        report_type="TO_CAO",
        category="WASTE",
        sector="LAND",
        assignee=people["alice"],
        flags=("complex",),
        due_within_days=30,
    )
    assert names(run(db, combined)) == ["d"]
    assert names(run(db, QueueFilter(sector="LAND", flags=("urgent",), ward_code=W1))) == ["a"]
    assert names(run(db, QueueFilter(category="BRIBERY", overdue=True))) == ["b"]
    assert run(db, QueueFilter(category="BRIBERY", flags=("complex",))).total == 0


def test_nearest_deadline_first_and_no_deadline_last(db: Database, make: Factory) -> None:
    make.case("n1", received_on=TODAY - timedelta(days=5))
    make.case("n2", received_on=TODAY - timedelta(days=9))
    make.case("d1", answer_due_on=TODAY + timedelta(days=3), received_on=TODAY - timedelta(days=1))
    make.case("d2", answer_due_on=TODAY + timedelta(days=3), received_on=TODAY - timedelta(days=2))
    make.case("d3", answer_due_on=TODAY + timedelta(days=1), received_on=TODAY - timedelta(days=1))
    make.case("d4", answer_due_on=TODAY + timedelta(days=3), received_on=TODAY - timedelta(days=2))
    make.case("late", answer_due_on=TODAY - timedelta(days=30), received_on=TODAY)
    assert names(run(db, QueueFilter())) == ["late", "d3", "d2", "d4", "d1", "n2", "n1"]


def test_pages_and_counts(db: Database, make: Factory) -> None:
    for n in range(7):
        make.case(f"r{n}", state=State.RECEIVED, answer_due_on=TODAY + timedelta(days=n))
    for n in range(2):
        make.case(f"t{n}", state=State.TRIAGE, answer_due_on=TODAY + timedelta(days=n))
    make.case("closed", state=State.CLOSED)

    first = run(db, QueueFilter(states=("RECEIVED",)), per_page=3)
    assert (first.total, first.page, first.per_page, first.pages) == (7, 1, 3, 3)
    assert names(first) == ["r0", "r1", "r2"]
    # The tabs count every state under the other criteria, whatever state is selected.
    assert first.state_counts == {"RECEIVED": 7, "TRIAGE": 2, "CLOSED": 1}

    assert names(run(db, QueueFilter(states=("RECEIVED",)), page=2, per_page=3)) == ["r3", "r4", "r5"]
    last = run(db, QueueFilter(states=("RECEIVED",)), page=3, per_page=3)
    assert names(last) == ["r6"] and last.page == 3
    assert run(db, QueueFilter(states=("RECEIVED",)), page=0, per_page=3).page == 1
    assert run(db, QueueFilter(states=("RECEIVED",)), page=-4, per_page=3).page == 1
    beyond = run(db, QueueFilter(states=("RECEIVED",)), page=99, per_page=3)
    assert beyond.page == 3 and names(beyond) == ["r6"]

    both = run(db, QueueFilter(states=("RECEIVED", "TRIAGE")), per_page=4)
    assert (both.total, both.pages) == (9, 3)
    assert names(both) == ["r0", "t0", "r1", "t1"]

    everything = run(db, QueueFilter(), per_page=50)
    assert (everything.total, everything.pages, len(everything.rows)) == (10, 1, 10)
    nothing = run(db, QueueFilter(states=("WITHDRAWN",)))
    assert (nothing.total, nothing.page, nothing.pages, nothing.rows) == (0, 1, 1, [])
    assert nothing.state_counts == {"RECEIVED": 7, "TRIAGE": 2, "CLOSED": 1}


def test_state_counts_follow_the_other_criteria(db: Database, cases: dict[str, int]) -> None:
    page = run(db, QueueFilter(states=("RECEIVED",), sector="LAND"))
    assert page.total == 1
    assert page.state_counts == {"RECEIVED": 1, "NEED_INFO": 1, "VERIFYING": 1}


def test_a_plain_inspector_sees_the_triage_queue_and_their_own_cases(
    db: Database, cases: dict[str, int], people: dict[str, int]
) -> None:
    alice = run(db, QueueFilter(), only_for=people["alice"])
    assert set(names(alice)) == {"a", "b", "c", "d"}
    assert alice.state_counts == {"RECEIVED": 1, "TRIAGE": 1, "NEED_INFO": 1, "VERIFYING": 1}
    assert set(names(run(db, QueueFilter(), only_for=people["bob"]))) == {"a", "b", "c", "e", "f"}
    # Nothing outside the queue leaks through another criterion.
    assert names(run(db, QueueFilter(states=("ACCEPTED",)), only_for=people["alice"])) == []
    assert names(run(db, QueueFilter(assignee=people["bob"]), only_for=people["alice"])) == ["c"]
    assert set(names(run(db, QueueFilter(flags=("complex",)), only_for=people["alice"]))) == {"d"}
    # A lead passes None and sees everything.
    assert run(db, QueueFilter(), only_for=None).total == 6


def test_rows_come_with_categories_and_assignee_names_in_three_queries(
    db: Database, cases: dict[str, int], people: dict[str, int]
) -> None:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.session() as session:
            page = queue(session, QueueFilter(), today=TODAY)
            by_name = {case.reference: case for case in page.rows}
            seen = {
                name: (sorted(c.category for c in case.categories), page.assignee_of(case))
                for name, case in by_name.items()
            }
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len(statements) == 3, statements
    assert seen["b"] == (["BRIBERY", "WASTE"], "Thanh tra alice")
    assert seen["a"] == (["BRIBERY"], None)
    assert seen["e"] == ([], "Thanh tra bob")


# --- The query string -------------------------------------------------------------------------


def test_parse_filter_reads_every_criterion() -> None:
    args = MultiDict(
        [
            ("states", "RECEIVED"),
            ("states", "TRIAGE"),
            ("report_type", "TO_CAO"),
            ("category", "BRIBERY"),
            ("sector", "LAND"),
            ("ward_code", W1),
            ("assignee", "12"),
            ("flags", "urgent"),
            ("flags", "duplicate"),
            ("overdue", "1"),
            ("due_within", "7"),
        ]
    )
    assert parse_filter(args) == QueueFilter(
        states=("RECEIVED", "TRIAGE"),
        report_type="TO_CAO",
        category="BRIBERY",
        sector="LAND",
        ward_code=W1,
        assignee=12,
        flags=("urgent", "duplicate"),
        overdue=True,
        due_within_days=7,
    )
    assert parse_filter(MultiDict({"assignee": "none"})).assignee == "none"
    assert parse_filter(MultiDict()) == QueueFilter()


def test_a_filter_survives_the_round_trip_through_its_query_string() -> None:
    flt = QueueFilter(
        states=("NEED_INFO", "RECEIVED"), category="WASTE", assignee="none", flags=("anonymous",), due_within_days=0
    )
    assert parse_filter(MultiDict(flt.to_args())) == flt
    assert parse_filter(MultiDict(QueueFilter().to_args())) == QueueFilter()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"states": ["DROP TABLE cases", "RECEIVED", "received", "RECEIVED"]}, QueueFilter(states=("RECEIVED",))),
        ({"states": "'; DELETE FROM cases; --"}, QueueFilter()),
        ({"flags": ["urgent", "admin", "", "URGENT"]}, QueueFilter(flags=("urgent",))),
        ({"report_type": "TO_CAO'--", "category": "bribery", "sector": "MOON"}, QueueFilter()),
        ({"ward_code": "99999"}, QueueFilter()),
        ({"ward_code": ""}, QueueFilter()),
        ({"assignee": "abc"}, QueueFilter()),
        ({"assignee": "-1"}, QueueFilter()),
        ({"assignee": "0"}, QueueFilter()),
        ({"assignee": "1e3"}, QueueFilter()),
        ({"assignee": "99999999999999999999"}, QueueFilter()),
        ({"assignee": " 7 "}, QueueFilter(assignee=7)),
        ({"assignee": "NONE"}, QueueFilter(assignee="none")),
        ({"due_within": "-5"}, QueueFilter(due_within_days=0)),
        ({"due_within": str(10**9)}, QueueFilter(due_within_days=365)),
        ({"due_within": "9" * 5000}, QueueFilter(due_within_days=365)),
        ({"due_within": "abc"}, QueueFilter()),
        ({"due_within": ""}, QueueFilter()),
        ({"due_within": "1_0"}, QueueFilter()),
        ({"due_within": "١٢"}, QueueFilter()),  # Arabic-Indic digits: int() would take them
        ({"due_within": "7.5"}, QueueFilter()),
        ({"overdue": "maybe"}, QueueFilter()),
        ({"overdue": "on"}, QueueFilter(overdue=True)),
        ({"unknown": "x", "page": "2"}, QueueFilter()),
    ],
)
def test_parse_filter_drops_what_it_does_not_know(args: dict[str, Any], expected: QueueFilter) -> None:
    multi: MultiDict[str, str] = MultiDict()
    for key, value in args.items():
        for item in value if isinstance(value, list) else [value]:
            multi.add(key, item)
    assert parse_filter(multi) == expected
    # A plain mapping of strings or lists is read the same way.
    assert parse_filter(args) == expected


def test_parse_filter_takes_odd_python_values_without_raising() -> None:
    assert parse_filter({"states": None, "flags": 3, "assignee": None, "due_within": 5}) == QueueFilter()  # type: ignore[dict-item]
    assert parse_filter({"states": ("TRIAGE", None)}) == QueueFilter(states=("TRIAGE",))


@pytest.mark.parametrize(
    ("value", "page"), [(None, 1), ("3", 3), ("0", 1), ("-2", 1), ("x", 1), ("", 1), ("9" * 5000, 10**9)]
)
def test_parse_page(value: str | None, page: int) -> None:
    assert parse_page(MultiDict({} if value is None else {"page": value})) == page


KEYS = [
    "states",
    "report_type",
    "category",
    "sector",
    "ward_code",
    "assignee",
    "flags",
    "overdue",
    "due_within",
    "page",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(KEYS), st.text(max_size=40)), max_size=20))
def test_parse_filter_never_raises_and_keeps_only_valid_values(pairs: list[tuple[str, str]]) -> None:
    flt = parse_filter(MultiDict(pairs))
    assert set(flt.states) <= set(State)
    assert set(flt.flags) <= set(FLAGS)
    assert flt.assignee is None or flt.assignee == "none" or (isinstance(flt.assignee, int) and flt.assignee >= 1)
    assert flt.due_within_days is None or 0 <= flt.due_within_days <= 365
    assert parse_page(MultiDict(pairs)) >= 1


def test_a_hand_edited_url_still_lists_cases(db: Database, cases: dict[str, int]) -> None:
    junk = MultiDict(
        [("states", "DROP TABLE cases"), ("due_within", "-5"), ("assignee", "1 OR 1=1"), ("category", "%"),
         ("sector", "LAND' OR '1'='1"), ("flags", "urgent"), ("page", "abc")]
    )  # fmt: skip
    with db.session() as session:
        page = queue(session, parse_filter(junk), today=TODAY, page=parse_page(junk))
    # due_within=-5 is read as "due today"; urgent holds; everything else was dropped.
    assert names(page) == ["f"]


def test_a_filter_built_in_code_with_an_unknown_flag_fails_before_any_sql() -> None:
    with pytest.raises(ValueError, match="unknown flags"):
        QueueFilter(flags=("urgent", "secret"))
