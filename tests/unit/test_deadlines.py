"""Working-day deadlines and what the reporter is told about each state."""

from __future__ import annotations

from datetime import date

from portal.lifecycle import REPORTER_LABELS, STATE_NAMES, State, first_answer_due
from portal.workdays import WorkCalendar, vietnam_calendar


def test_weekends_do_not_count() -> None:
    calendar = WorkCalendar()
    friday = date(2026, 11, 20)
    assert calendar.add_working_days(friday, 1) == date(2026, 11, 23)
    assert calendar.add_working_days(friday, 5) == date(2026, 11, 27)
    assert calendar.add_working_days(friday, 0) == friday


def test_holidays_do_not_count_and_makeup_saturdays_do() -> None:
    calendar = WorkCalendar(holidays=frozenset({date(2026, 11, 23)}), extra_workdays=frozenset({date(2026, 11, 21)}))
    assert calendar.add_working_days(date(2026, 11, 20), 2) == date(2026, 11, 24)


def test_tet_2026_pushes_the_triage_deadline() -> None:
    calendar = vietnam_calendar()
    # Received on Friday 13 February 2026, the last working day before the Tết break (16–20 Feb).
    assert calendar.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 23)


def test_identified_denunciations_get_7_working_days_others_10() -> None:
    calendar = WorkCalendar()
    monday = date(2026, 11, 2)
    assert first_answer_due("TO_CAO", monday, calendar) == date(2026, 11, 11)
    assert first_answer_due("THONG_TIN_TO_CAO", monday, calendar) == date(2026, 11, 16)


def test_every_state_has_a_reporter_label_and_a_name() -> None:
    assert set(REPORTER_LABELS) == set(State) == set(STATE_NAMES)
