"""The retention policy: which states are ever deleted, on which day, and how duplicates hold their originals."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from portal.lifecycle import State
from portal.retention import (
    DEFAULT_RETENTION_YEARS,
    DueCase,
    Policy,
    add_years,
    duplicates_first,
    purge_dates,
)
from portal.settings import ConfigurationError, load_settings

POLICY = Policy(DEFAULT_RETENTION_YEARS)
SINCE = date(2016, 3, 16)
ENDED = {State.CLOSED: 10, State.NOT_ACCEPTED: 5, State.ARCHIVED_INSUFFICIENT: 5}


@pytest.mark.parametrize("state", list(State))
def test_only_the_three_ended_states_are_ever_deleted(state: State) -> None:
    """Everything else is handling in progress or waits for a lead to close it: kept however old."""
    expected = add_years(SINCE, ENDED[state]) if state in ENDED else None
    assert POLICY.purge_on(state, SINCE) == expected
    if state not in ENDED:
        assert POLICY.purge_on(state, date(1990, 1, 1)) is None


@pytest.mark.parametrize("state", list(ENDED))
def test_a_case_is_due_on_the_day_its_period_ends_and_not_the_day_before(state: State) -> None:
    last_day_kept = date(2016 + ENDED[state], 3, 15)
    purge_on = POLICY.purge_on(state, SINCE)
    assert purge_on is not None
    assert not purge_on <= last_day_kept
    assert purge_on <= last_day_kept + timedelta(days=1)


def test_a_case_ended_on_29_february_is_kept_whole_years() -> None:
    assert add_years(date(2024, 2, 29), 5) == date(2029, 3, 1)
    assert add_years(date(2024, 2, 28), 5) == date(2029, 2, 28)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)


def test_the_periods_come_from_the_configuration() -> None:
    policy = Policy({State.CLOSED: 20})
    assert policy.purge_on(State.CLOSED, SINCE) == date(2036, 3, 16)
    assert policy.purge_on(State.NOT_ACCEPTED, SINCE) is None


DAY = date(2026, 3, 16)


def test_an_original_waits_for_every_case_that_names_it() -> None:
    # 2 names 1, 3 names 2: 1 goes with the latest of the three.
    own = {1: DAY, 2: DAY + timedelta(days=40), 3: DAY + timedelta(days=5), 4: DAY}
    dates = purge_dates(own, {1: None, 2: 1, 3: 2, 4: None})
    assert dates == {1: DAY + timedelta(days=40), 2: DAY + timedelta(days=40), 3: DAY + timedelta(days=5), 4: DAY}


def test_an_original_named_by_a_case_in_handling_is_kept() -> None:
    dates = purge_dates({1: DAY, 2: None, 3: DAY}, {1: None, 2: 1, 3: 2})
    assert dates == {1: None, 2: None, 3: DAY}


def test_cases_naming_each_other_in_a_loop_are_kept() -> None:
    dates = purge_dates({1: DAY, 2: DAY, 3: DAY}, {1: 2, 2: 1, 3: 1})
    assert dates == {1: None, 2: None, 3: DAY}


def test_duplicates_are_deleted_before_their_originals() -> None:
    def due(case_id: int, original: int | None) -> DueCase:
        return DueCase(case_id, f"R-{case_id}", State.CLOSED, SINCE, DAY, original)

    order = duplicates_first([due(1, None), due(2, 1), due(3, 2), due(4, None), due(5, 99)])
    assert sorted(case.id for case in order) == [1, 2, 3, 4, 5]
    position = {case.id: index for index, case in enumerate(order)}
    assert position[3] < position[2] < position[1]


BASE_ENV = {"PORTAL_ENV": "testing", "KDF_COST": "testing"}


def test_retention_years_default_and_can_be_set() -> None:
    assert load_settings("reviewer", BASE_ENV)["RETENTION_YEARS"] == ENDED
    settings = load_settings("reviewer", {**BASE_ENV, "RETENTION_YEARS_CLOSED": " 15 "})
    assert settings["RETENTION_YEARS"][State.CLOSED] == 15


@pytest.mark.parametrize("value", ["0", "-1", "101", "ten", "2.5", "²", "1e3"])
def test_a_retention_that_is_not_whole_years_from_1_to_100_stops_the_app(value: str) -> None:
    with pytest.raises(ConfigurationError, match="RETENTION_YEARS_NOT_ACCEPTED must be a whole number of years"):
        load_settings("reviewer", {**BASE_ENV, "RETENTION_YEARS_NOT_ACCEPTED": value})
