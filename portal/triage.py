"""The triage queue: which cases an inspector sees, filtered and ordered by the nearest deadline.

Everything here reads plaintext triage metadata only, so listing a queue never needs a key nor
decrypts anything. No Flask request access: the reviewer views parse the query string with
`parse_filter` and pass the result in, which keeps the queue testable and reusable (exports, CLI).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import cache
from typing import Any, Literal

from sqlalchemy import ColumnElement, exists, func, literal_column, or_, select
from sqlalchemy.orm import Session, defer

from portal.lifecycle import State
from portal.models import Case, CaseCategory, Inspector
from portal.taxonomy import MISCONDUCT, REPORT_TYPES, SECTORS, wards

# Flags beside the state (DESIGN.md section 5); "duplicate" means the case points at an original.
FLAGS: tuple[str, ...] = ("urgent", "protection_requested", "complex", "especially_complex", "duplicate", "anonymous")

# What a plain inspector may list besides the cases assigned to them: the cases still to classify.
QUEUE_STATES: tuple[State, ...] = (State.RECEIVED, State.TRIAGE, State.NEED_INFO)

UNASSIGNED: Literal["none"] = "none"
DUE_WITHIN_MAX_DAYS = 365
PER_PAGE_MAX = 200

# Reporter-written blobs are never needed to list a case: not loading them keeps a page light.
_SEALED_COLUMNS = (
    Case.lookup_id,
    Case.reporter_public_key,
    Case.reporter_salt,
    Case.sealed_report,
    Case.sealed_report_for_reporter,
    Case.sealed_identity,
)


# Nearest deadline first, no deadline last, then oldest first; the indexes ix_cases_state_due and
# ix_cases_due_order hold exactly this order.
QUEUE_ORDER = (Case.answer_due_on.asc().nulls_last(), Case.received_on, Case.id)


@dataclass(frozen=True)
class QueueFilter:
    """What the inspector asked to see. Every criterion set must hold (AND); empty means any."""

    states: tuple[str, ...] = ()
    report_type: str | None = None
    category: str | None = None
    sector: str | None = None
    ward_code: str | None = None
    # None: anyone or no one; "none": unassigned only; an id: that inspector's cases.
    assignee: int | Literal["none"] | None = None
    flags: tuple[str, ...] = ()
    overdue: bool = False
    # answer_due_on between today and today + N days, both included.
    due_within_days: int | None = None

    def __post_init__(self) -> None:
        # parse_filter never builds a bad filter; this catches code that does, before any SQL.
        if not set(self.flags) <= set(FLAGS):
            raise ValueError(f"unknown flags: {sorted(set(self.flags) - set(FLAGS))}")

    def to_args(self) -> dict[str, str | list[str]]:
        """The query-string form `parse_filter` reads back, for links that keep the filter (tabs, pages)."""
        args: dict[str, str | list[str]] = {}
        if self.states:
            args["states"] = list(self.states)
        for name in ("report_type", "category", "sector", "ward_code"):
            value = getattr(self, name)
            if value is not None:
                args[name] = value
        if self.assignee is not None:
            args["assignee"] = str(self.assignee)
        if self.flags:
            args["flags"] = list(self.flags)
        if self.overdue:
            args["overdue"] = "1"
        if self.due_within_days is not None:
            args["due_within"] = str(self.due_within_days)
        return args


@dataclass
class QueuePage:
    """One page of the queue plus the numbers the page shows around it (tabs, pager)."""

    rows: list[Case]
    total: int
    # Per state, for the filter without its states criterion: the counts on the state tabs.
    state_counts: dict[str, int]
    page: int
    per_page: int
    pages: int
    # Display names of the assignees of the rows on this page, by inspector id.
    assignees: dict[int, str] = field(default_factory=dict)

    def assignee_of(self, case: Case) -> str | None:
        return self.assignees.get(case.assignee_id) if case.assignee_id is not None else None


def queue(
    session: Session,
    flt: QueueFilter,
    *,
    today: date,
    page: int = 1,
    per_page: int = 50,
    only_for: int | None = None,
) -> QueuePage:
    """A page of matching cases, nearest deadline first (no deadline last), then oldest first.

    At most three queries whatever the page holds: the state counts (which also give the total), the
    page's rows with their assignees' names, and their categories (the relationship's selectin).
    `only_for` is a plain inspector's id: they see the cases waiting for triage and their own.
    """
    per_page = min(max(per_page, 1), PER_PAGE_MAX)
    visible = _criteria(flt, today, only_for, with_states=False)
    # Grouping on the bare column makes SQLite walk the (state, answer_due_on) index in order and
    # read every row to test any other criterion; grouping on an expression lets it start from that
    # criterion's index instead. Deadline criteria alone are answered from the index itself.
    deadline_only = replace(flt, states=(), overdue=False, due_within_days=None) == QueueFilter() and only_for is None
    grouped = Case.state if deadline_only else Case.state.concat(literal_column("''"))
    counted = session.execute(select(grouped, func.count()).where(*visible).group_by(grouped))
    state_counts = {code: count for code, count in counted}
    chosen = set(flt.states) if flt.states else state_counts.keys()
    total = sum(state_counts.get(code, 0) for code in chosen)
    pages = max(1, math.ceil(total / per_page))
    # A hand-edited or stale page number shows the nearest page that exists rather than nothing.
    page = min(max(page, 1), pages)

    rows: list[Case] = []
    assignees: dict[int, str] = {}
    if total:
        # The page's ids first, from the index alone, then only those rows: a deep page no longer
        # reads (or, on PostgreSQL, sorts) every row it skips.
        page_ids = (
            select(Case.id)
            .where(*_criteria(flt, today, only_for, with_states=True))
            .order_by(*QUEUE_ORDER)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        statement = (
            select(Case, Inspector.display_name)
            .outerjoin(Inspector, Inspector.id == Case.assignee_id)
            .where(Case.id.in_(page_ids))
            .order_by(*QUEUE_ORDER)
            .options(*(defer(column) for column in _SEALED_COLUMNS))
        )
        for case, name in session.execute(statement):
            rows.append(case)
            if case.assignee_id is not None and name is not None:
                assignees[case.assignee_id] = name
    return QueuePage(rows, total, state_counts, page, per_page, pages, assignees)


# SQL expressions are immutable: one per flag serves every query.
_FLAG_CRITERIA: dict[str, ColumnElement[bool]] = {
    "urgent": Case.urgent.is_(True),
    "protection_requested": Case.protection_requested.is_(True),
    "complex": Case.complex.is_(True),
    "especially_complex": Case.especially_complex.is_(True),
    "duplicate": Case.duplicate_of_id.is_not(None),
    "anonymous": Case.anonymous.is_(True),
}


def _criteria(flt: QueueFilter, today: date, only_for: int | None, *, with_states: bool) -> list[ColumnElement[bool]]:
    criteria: list[ColumnElement[bool]] = []
    if only_for is not None:
        criteria.append(or_(Case.state.in_(QUEUE_STATES), Case.assignee_id == only_for))
    if with_states and flt.states:
        criteria.append(Case.state.in_(flt.states))
    if flt.report_type is not None:
        criteria.append(Case.report_type == flt.report_type)
    if flt.category is not None:
        criteria.append(
            exists().where(CaseCategory.case_id == Case.id, CaseCategory.category == flt.category),
        )
    if flt.sector is not None:
        criteria.append(Case.sector == flt.sector)
    if flt.ward_code is not None:
        criteria.append(Case.ward_code == flt.ward_code)
    if flt.assignee == UNASSIGNED:
        criteria.append(Case.assignee_id.is_(None))
    elif flt.assignee is not None:
        criteria.append(Case.assignee_id == flt.assignee)
    criteria.extend(_FLAG_CRITERIA[flag] for flag in flt.flags)
    if flt.overdue:
        criteria.append(Case.answer_due_on < today)
    if flt.due_within_days is not None:
        criteria.append(Case.answer_due_on.between(today, today + timedelta(days=flt.due_within_days)))
    return criteria


# --- The query string -------------------------------------------------------------------------

_TRUE = frozenset({"1", "true", "on", "yes"})
_INTEGER = re.compile(r"([+-]?)([0-9]+)", re.ASCII)


@cache
def _codes() -> dict[str, frozenset[str]]:
    """Valid values per field, built once per process (the ward list is read from a file)."""
    return {
        "states": frozenset(State),
        "report_type": frozenset(choice.value for choice in REPORT_TYPES),
        "category": frozenset(choice.value for choice in MISCONDUCT),
        "sector": frozenset(choice.value for choice in SECTORS),
        "ward_code": frozenset(ward.code for ward in wards()),
        "flags": frozenset(FLAGS),
    }


def parse_filter(args: Mapping[str, Any]) -> QueueFilter:
    """A filter from query-string values; anything unknown or malformed is dropped, never raised.

    A hand-edited or outdated URL must show a (wider) queue, not an error page. `args` is a
    werkzeug MultiDict (repeated `states` and `flags`) or a plain mapping of strings or lists.
    """
    codes = _codes()
    return QueueFilter(
        states=_valid_list(_getlist(args, "states"), codes["states"]),
        report_type=_valid_one(_first(args, "report_type"), codes["report_type"]),
        category=_valid_one(_first(args, "category"), codes["category"]),
        sector=_valid_one(_first(args, "sector"), codes["sector"]),
        ward_code=_valid_one(_first(args, "ward_code"), codes["ward_code"]),
        assignee=_parse_assignee(_first(args, "assignee")),
        flags=_valid_list(_getlist(args, "flags"), codes["flags"]),
        overdue=(_first(args, "overdue") or "").strip().lower() in _TRUE,
        due_within_days=_parse_due_within(_first(args, "due_within")),
    )


def parse_page(args: Mapping[str, Any]) -> int:
    """The page number asked for, 1 when missing or malformed (`queue` clamps it to the last page)."""
    number = _parse_int(_first(args, "page"))
    return number if number is not None and number >= 1 else 1


def _getlist(args: Mapping[str, Any], key: str) -> list[Any]:
    getlist = getattr(args, "getlist", None)
    if callable(getlist):
        return list(getlist(key))
    value = args.get(key)
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _first(args: Mapping[str, Any], key: str) -> str | None:
    values = _getlist(args, key)
    return values[0] if values and isinstance(values[0], str) else None


def _valid_one(value: str | None, valid: frozenset[str]) -> str | None:
    return value if value in valid else None


def _valid_list(values: Iterable[Any], valid: frozenset[str]) -> tuple[str, ...]:
    """Known codes only, each once, in the order given."""
    return tuple(dict.fromkeys(value for value in values if isinstance(value, str) and value in valid))


def _parse_int(value: str | None) -> int | None:
    # Short ASCII digits only: int() would also take "1_000", non-ASCII digits, and huge numbers.
    match = _INTEGER.fullmatch(value.strip()) if value is not None else None
    if match is None:
        return None
    sign, digits = match.groups()
    number = int(digits) if len(digits) <= 9 else 10**9
    return -number if sign == "-" else number


def _parse_assignee(value: str | None) -> int | Literal["none"] | None:
    if value is not None and value.strip().lower() == UNASSIGNED:
        return UNASSIGNED
    number = _parse_int(value)
    # Ten digits or more is no id of ours (and _parse_int has capped it).
    return number if number is not None and 1 <= number < 10**9 else None


def _parse_due_within(value: str | None) -> int | None:
    number = _parse_int(value)
    return None if number is None else min(max(number, 0), DUE_WITHIN_MAX_DAYS)
