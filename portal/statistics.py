"""Case statistics for the inspectorate's overview page, from plaintext triage metadata only.

Every figure is a GROUP BY over indexed columns, so the page stays fast at 100,000 cases; the
medians come from a histogram of day counts (one row per distinct number of days), not from
fetching every case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Integer, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement

from portal.models import Case, CaseCategory

MONTHS = 12

Counts = list[tuple[str, int]]


@dataclass
class Statistics:
    """Counts are (code, number of cases), most frequent first; months are "YYYY-MM", oldest first."""

    total: int
    by_state: Counts
    by_report_type: Counts
    # A case may have several categories, or none yet: these do not add up to the total.
    by_category: Counts
    # Cases not yet classified by sector or ward are left out of these two.
    by_sector: Counts
    by_ward: Counts
    by_month: Counts
    overdue: int
    median_days_to_first_answer: float | None
    median_days_to_conclusion: float | None


class days_between(FunctionElement[int]):
    """`later - earlier` in whole days: date arithmetic differs between SQLite and PostgreSQL."""

    type = Integer()
    inherit_cache = True


@compiles(days_between)
def _days_between_postgresql(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL: date - date is an integer number of days.
    later, earlier = element.clauses
    return f"({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)})"


@compiles(days_between, "sqlite")
def _days_between_sqlite(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite stores dates as ISO text; julianday() turns them into comparable day numbers.
    later, earlier = element.clauses
    return (
        f"CAST(round(julianday({compiler.process(later, **kw)}) - julianday({compiler.process(earlier, **kw)}))"
        " AS INTEGER)"
    )


def overview(session: Session, *, today: date) -> Statistics:
    """All figures of the overview page, in nine queries over indexes (the medians' one reads the table)."""
    by_state = _counts(session, Case.state)
    to_first_answer: dict[int, int] = {}
    to_conclusion: dict[int, int] = {}
    # One pass over the cases for both medians: the two dates are not indexed, so each pass reads the table.
    first_answer = days_between(Case.first_decision_on, Case.received_on)
    conclusion = days_between(Case.concluded_on, Case.received_on)
    histogram = session.execute(
        select(first_answer, conclusion, func.count())
        .where(or_(Case.first_decision_on.is_not(None), Case.concluded_on.is_not(None)))
        .group_by(first_answer, conclusion)
    )
    for first_days, conclusion_days, count in histogram:
        if first_days is not None:
            to_first_answer[first_days] = to_first_answer.get(first_days, 0) + count
        if conclusion_days is not None:
            to_conclusion[conclusion_days] = to_conclusion.get(conclusion_days, 0) + count
    return Statistics(
        total=sum(count for _, count in by_state),
        by_state=by_state,
        by_report_type=_counts(session, Case.report_type),
        by_category=_counts(session, CaseCategory.category),
        by_sector=_counts(session, Case.sector),
        by_ward=_counts(session, Case.ward_code),
        by_month=_by_month(session, today),
        overdue=session.scalar(select(func.count()).select_from(Case).where(Case.answer_due_on < today)) or 0,
        median_days_to_first_answer=median_of_histogram(to_first_answer),
        median_days_to_conclusion=median_of_histogram(to_conclusion),
    )


def _counts(session: Session, column: InstrumentedAttribute[Any]) -> Counts:
    rows = session.execute(select(column, func.count()).where(column.is_not(None)).group_by(column))
    return sorted(((code, count) for code, count in rows), key=lambda row: (-row[1], row[0]))


def month_keys(today: date, months: int = MONTHS) -> list[str]:
    """The last `months` calendar months up to and including today's, oldest first."""
    index = today.year * 12 + today.month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - months + 1, index + 1)]


def _by_month(session: Session, today: date) -> Counts:
    """Cases received per month; empty months are shown as 0 so the chart's time axis has no gaps."""
    keys = month_keys(today)
    start = date.fromisoformat(f"{keys[0]}-01")
    end_index = today.year * 12 + today.month  # first day of next month
    end = date(end_index // 12, end_index % 12 + 1, 1)
    # Grouped by day (at most ~366 rows) and bucketed here: month truncation is not portable SQL.
    rows = session.execute(
        select(Case.received_on, func.count())
        .where(Case.received_on >= start, Case.received_on < end)
        .group_by(Case.received_on)
    )
    per_month = dict.fromkeys(keys, 0)
    for received_on, count in rows:
        per_month[received_on.strftime("%Y-%m")] += count
    return list(per_month.items())


def median_of_histogram(histogram: dict[int, int] | Iterable[tuple[int, int]]) -> float | None:
    """The median of values given as (value, how many times); the mean of the two middle ones when even."""
    pairs = sorted(histogram.items() if isinstance(histogram, dict) else histogram)
    n = sum(count for _, count in pairs)
    if n == 0:
        return None
    wanted = ((n - 1) // 2, n // 2)
    found: list[int] = []
    seen = 0
    for value, count in pairs:
        while len(found) < 2 and wanted[len(found)] < seen + count:
            found.append(value)
        if len(found) == 2:
            break
        seen += count
    return (found[0] + found[1]) / 2
