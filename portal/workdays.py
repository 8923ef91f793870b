"""Working-day arithmetic for legal deadlines: weekends and Vietnamese public holidays are skipped.

The calendar is data (`config/data/holidays_vn.csv`), edited by the operator each year; a row of
kind `workday` marks a Saturday the government makes a working day in exchange for a bridge day.
"""

from __future__ import annotations

import csv
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path

VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")
HOLIDAYS_FILE = Path(__file__).resolve().parent.parent / "config" / "data" / "holidays_vn.csv"


def today() -> date:
    """Today in Vietnam: reporter-side records are kept to the day, and the day is Hanoi's."""
    return datetime.now(VIETNAM_TZ).date()


@dataclass(frozen=True)
class WorkCalendar:
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add_working_days(self, start: date, count: int) -> date:
        """The date `count` working days after `start` (the day of receipt does not count)."""
        if count < 0:
            raise ValueError("count must not be negative")
        day = start
        while count:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (`start`, `end`]: what is left of a working-day time limit when its clock stops on `start`."""
        return sum(self.is_working_day(start + timedelta(days=n)) for n in range(1, (end - start).days + 1))


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the end of a shorter month (30 Nov + 3 months = 28 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, monthrange(year, month)[1]))


@cache
def vietnam_calendar(path: Path = HOLIDAYS_FILE) -> WorkCalendar:
    holidays: set[date] = set()
    workdays: set[date] = set()
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            day = date.fromisoformat(row["date"])
            if row["kind"] == "holiday":
                holidays.add(day)
            elif row["kind"] == "workday":
                workdays.add(day)
            else:
                raise ValueError(f"{path}: unknown kind {row['kind']!r} on {row['date']}")
    return WorkCalendar(frozenset(holidays), frozenset(workdays))
