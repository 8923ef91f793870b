"""The legal lifecycle: every article's deadline as a table of dates, worked out by hand on the 2026–27 calendar.

Holidays in config/data/holidays_vn.csv used below: 1 Jan 2026 (Thu); Tết 16–20 Feb 2026 (Mon–Fri);
27 Apr 2026 (Mon, for Hùng Kings' day on Sunday 26 Apr); 30 Apr and 1 May 2026 (Thu, Fri);
1–2 Sep 2026 (Tue, Wed); 1 Jan 2027 (Fri); Tết 5 and 8–11 Feb 2027.
"""

from __future__ import annotations

from collections import deque
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.lifecycle import (
    DEADLINE_LABELS,
    STEP_LABELS,
    Clock,
    Extension,
    State,
    TransitionError,
    advance,
    filed,
    is_overdue,
    reopen_by_reporter,
    step_to,
    steps_from,
)
from portal.workdays import vietnam_calendar

CAL = vietnam_calendar()
S = State


def move(
    clock: Clock, target: State, on: date, *, identified: bool = False, extension: Extension | None = None
) -> Clock:
    return advance(clock, target, on, CAL, identified=identified, extension=extension)


# --- Law on Denunciation Art. 24(1): 7 working days for an identified denunciation, 10 for the rest ---


@pytest.mark.parametrize(
    ("report_type", "received", "due"),
    [
        ("TO_CAO", date(2026, 11, 2), date(2026, 11, 11)),  # plain weeks
        ("THONG_TIN_TO_CAO", date(2026, 11, 2), date(2026, 11, 16)),
        ("TO_CAO", date(2026, 2, 13), date(2026, 3, 3)),  # Friday before Tết: the whole week off is skipped
        ("PHAN_ANH", date(2026, 2, 13), date(2026, 3, 6)),
        ("TO_CAO", date(2026, 4, 25), date(2026, 5, 8)),  # Saturday; 27 Apr, 30 Apr and 1 May skipped
        ("KIEN_NGHI", date(2026, 8, 27), date(2026, 9, 14)),  # National Day 1–2 Sep skipped
        ("TO_CAO", date(2026, 12, 31), date(2027, 1, 12)),  # New Year's Day 2027 skipped
        ("THONG_TIN_TO_CAO", date(2027, 2, 2), date(2027, 2, 23)),  # Tết 2027: 5, 8–11 Feb skipped
    ],
)
def test_art_24_1_triage_deadline(report_type: str, received: date, due: date) -> None:
    clock = filed(report_type, received, CAL)
    assert clock == Clock(S.RECEIVED, received, answer_due_on=due)
    # Starting triage does not move the deadline.
    assert move(clock, S.TRIAGE, received).answer_due_on == due


@pytest.mark.parametrize(
    ("identified", "reopened", "due"),
    [
        (True, date(2026, 4, 24), date(2026, 5, 8)),  # 27 Apr, 30 Apr, 1 May skipped
        (False, date(2026, 4, 24), date(2026, 5, 13)),
        (True, date(2026, 8, 31), date(2026, 9, 11)),  # National Day 1–2 Sep skipped
        (False, date(2026, 8, 31), date(2026, 9, 16)),
    ],
)
def test_an_archived_case_gets_a_fresh_triage_period_when_the_reporter_adds_evidence(
    identified: bool, reopened: date, due: date
) -> None:
    archived = Clock(S.ARCHIVED_INSUFFICIENT, date(2026, 3, 2), first_decision_on=date(2026, 3, 2))
    clock = reopen_by_reporter(archived, reopened, CAL, identified=identified)
    assert (clock.state, clock.state_since, clock.answer_due_on) == (S.TRIAGE, reopened, due)
    assert clock.first_decision_on == date(2026, 3, 2)


# --- Triage paused while the reporter is asked for more information (working days) ---


@pytest.mark.parametrize(
    ("due", "paused", "left", "resumed", "new_due"),
    [
        (date(2026, 11, 11), date(2026, 11, 5), 4, date(2026, 11, 16), date(2026, 11, 20)),
        (date(2026, 11, 11), date(2026, 11, 7), 3, date(2026, 11, 15), date(2026, 11, 18)),  # weekend pause, resume
        (date(2026, 3, 2), date(2026, 2, 11), 8, date(2026, 3, 27), date(2026, 4, 8)),  # Tết inside the paused part
        (date(2026, 3, 2), date(2026, 2, 11), 8, date(2026, 4, 23), date(2026, 5, 8)),  # resumed over 27 Apr–1 May
        (date(2026, 11, 11), date(2026, 11, 11), 0, date(2026, 11, 13), date(2026, 11, 13)),  # asked on the last day
        (date(2026, 11, 11), date(2026, 11, 12), 0, date(2026, 11, 16), date(2026, 11, 16)),  # already overdue
    ],
)
@pytest.mark.parametrize("by_reporter", [True, False], ids=["reporter-answers", "inspector-resumes"])
def test_need_info_pauses_and_resumes_the_triage_clock(
    due: date, paused: date, left: int, resumed: date, new_due: date, by_reporter: bool
) -> None:
    triage = Clock(S.TRIAGE, date(2026, 2, 9), answer_due_on=due)
    waiting = move(triage, S.NEED_INFO, paused)
    assert (waiting.answer_due_on, waiting.paused_days_left, waiting.first_decision_on) == (None, left, None)
    if by_reporter:
        back = reopen_by_reporter(waiting, resumed, CAL, identified=False)
    else:
        back = move(waiting, S.TRIAGE, resumed)
    assert back == Clock(S.TRIAGE, resumed, answer_due_on=new_due)


# --- Art. 24(2) transfer: follow up the receiving body; criminal referral: 20 days (calendar days) ---


@pytest.mark.parametrize(
    ("target", "on", "due"),
    [
        (S.TRANSFERRED, date(2026, 11, 9), date(2026, 12, 24)),
        (S.TRANSFERRED, date(2026, 2, 6), date(2026, 3, 23)),  # Tết is not skipped: calendar days
        (S.REFERRED_CRIMINAL, date(2026, 11, 9), date(2026, 11, 29)),
        (S.REFERRED_CRIMINAL, date(2026, 2, 10), date(2026, 3, 2)),
    ],
)
def test_forwarded_cases_are_followed_to_their_result(target: State, on: date, due: date) -> None:
    clock = move(Clock(S.TRIAGE, date(2026, 2, 2), answer_due_on=date(2026, 2, 11)), target, on)
    assert (clock.answer_due_on, clock.first_decision_on) == (due, on)
    closed = move(clock, S.CLOSED, date(2027, 1, 4))
    assert (closed.answer_due_on, closed.first_decision_on) == (None, on)


@given(
    received=st.dates(date(2026, 1, 1), date(2027, 11, 30)),
    identified=st.booleans(),
    pause_after=st.integers(0, 14),
)
def test_a_same_day_answer_leaves_the_triage_deadline_where_it_was(
    received: date, identified: bool, pause_after: int
) -> None:
    triage = move(filed("TO_CAO" if identified else "PHAN_ANH", received, CAL), S.TRIAGE, received)
    due = triage.answer_due_on
    assert due is not None
    on = min(received + timedelta(days=pause_after), due)
    assert reopen_by_reporter(move(triage, S.NEED_INFO, on), on, CAL, identified=identified).answer_due_on == due


# --- Law on Citizen Reception Art. 28: feedback and petitions answered within 10 working days ---


@pytest.mark.parametrize(
    ("on", "due"),
    [
        (date(2026, 2, 9), date(2026, 3, 2)),
        (date(2026, 4, 22), date(2026, 5, 11)),
        (date(2026, 12, 29), date(2027, 1, 13)),
    ],
)
def test_citizen_reception_art_28_first_answer(on: date, due: date) -> None:
    clock = move(Clock(S.TRIAGE, date(2026, 2, 2), answer_due_on=date(2026, 2, 16)), S.PAKN_HANDLING, on)
    assert clock.answer_due_on == due


# --- Used for inspection: feedback within 3 months, the day clamped to the month's end ---


@pytest.mark.parametrize(
    ("on", "due"),
    [
        (date(2026, 11, 30), date(2027, 2, 28)),
        (date(2026, 10, 31), date(2027, 1, 31)),
        (date(2026, 3, 31), date(2026, 6, 30)),
        (date(2027, 11, 29), date(2028, 2, 29)),  # leap year
        (date(2026, 2, 16), date(2026, 5, 16)),
    ],
)
def test_management_inspection_feedback_in_three_months(on: date, due: date) -> None:
    clock = move(Clock(S.TRIAGE, date(2026, 2, 2), answer_due_on=date(2026, 2, 16)), S.MGMT_INSPECTION, on)
    assert clock.answer_due_on == due


# --- Arts. 29 and 30: accepted, then 30 calendar days to resolve ---


@pytest.mark.parametrize(
    ("accepted", "due"),
    [
        (date(2026, 2, 2), date(2026, 3, 4)),  # across Tết: holidays count
        (date(2026, 10, 15), date(2026, 11, 14)),
        (date(2026, 12, 1), date(2026, 12, 31)),
        (date(2027, 1, 15), date(2027, 2, 14)),  # across Tết 2027
    ],
)
def test_art_30_resolution_in_30_calendar_days(accepted: date, due: date) -> None:
    triage = Clock(S.TRIAGE, date(2026, 2, 2), answer_due_on=date(2026, 2, 11))
    clock = move(triage, S.ACCEPTED, accepted)
    assert clock == Clock(S.ACCEPTED, accepted, due, due, first_decision_on=accepted)
    assert move(clock, S.VERIFYING, accepted) == Clock(S.VERIFYING, accepted, due, due, first_decision_on=accepted)


@pytest.mark.parametrize(
    ("grounds", "dues"),
    [
        ([Extension.COMPLEX], [date(2026, 4, 3)]),
        ([Extension.COMPLEX, Extension.COMPLEX], [date(2026, 4, 3), None]),
        ([Extension.ESPECIALLY_COMPLEX] * 2, [date(2026, 4, 3), date(2026, 5, 3)]),
        ([Extension.ESPECIALLY_COMPLEX] * 3, [date(2026, 4, 3), date(2026, 5, 3), None]),
        ([Extension.COMPLEX, Extension.ESPECIALLY_COMPLEX], [date(2026, 4, 3), date(2026, 5, 3)]),  # re-graded
        ([None], [None]),
    ],
)
def test_art_30_extensions(grounds: list[Extension | None], dues: list[date | None]) -> None:
    """Accepted 2 Feb 2026, due 4 Mar; +30 days per extension: once if complex, twice if especially complex."""
    clock = move(move(Clock(S.TRIAGE, date(2026, 2, 2)), S.ACCEPTED, date(2026, 2, 2)), S.VERIFYING, date(2026, 2, 3))
    for count, (ground, due) in enumerate(zip(grounds, dues, strict=True), start=1):
        if due is None:
            with pytest.raises(TransitionError):
                move(clock, S.EXTENDED, date(2026, 3, count), extension=ground)
            return
        clock = move(clock, S.EXTENDED, date(2026, 3, count), extension=ground)
        assert (clock.resolution_due_on, clock.answer_due_on, clock.extensions) == (due, due, count)
        clock = move(clock, S.VERIFYING, date(2026, 3, count))
        assert clock.answer_due_on == due


# --- Art. 34: suspended time does not count (calendar days) ---


@pytest.mark.parametrize(
    ("due", "suspended", "left", "resumed", "new_due"),
    [
        (date(2026, 3, 4), date(2026, 2, 23), 9, date(2026, 4, 13), date(2026, 4, 22)),
        (date(2026, 4, 3), date(2026, 4, 1), 2, date(2026, 4, 28), date(2026, 4, 30)),  # a holiday still counts
        (date(2026, 12, 31), date(2026, 12, 1), 30, date(2027, 1, 4), date(2027, 2, 3)),
        (date(2026, 3, 4), date(2026, 3, 10), 0, date(2026, 3, 20), date(2026, 3, 20)),  # already overdue
    ],
)
def test_art_34_suspension_pauses_the_resolution_clock(
    due: date, suspended: date, left: int, resumed: date, new_due: date
) -> None:
    verifying = Clock(S.VERIFYING, date(2026, 2, 2), due, due, extensions=1)
    paused = move(verifying, S.SUSPENDED, suspended)
    assert (paused.answer_due_on, paused.resolution_due_on, paused.paused_days_left) == (None, None, left)
    assert move(paused, S.VERIFYING, resumed) == Clock(S.VERIFYING, resumed, new_due, new_due, extensions=1)


# --- Art. 40: the conclusion is published (and acted on) within 7 working days ---


@pytest.mark.parametrize(
    ("concluded", "due"),
    [
        (date(2026, 4, 23), date(2026, 5, 7)),
        (date(2026, 8, 28), date(2026, 9, 10)),
        (date(2026, 2, 10), date(2026, 2, 26)),
    ],
)
def test_art_40_publication_within_7_working_days(concluded: date, due: date) -> None:
    verifying = Clock(S.VERIFYING, date(2026, 1, 5), date(2026, 12, 31), date(2026, 12, 31))
    clock = move(verifying, S.CONCLUDED, concluded)
    assert (clock.concluded_on, clock.answer_due_on, clock.resolution_due_on) == (concluded, due, date(2026, 12, 31))
    acted = move(clock, S.ACTION_TAKEN, due)
    assert (acted.answer_due_on, acted.concluded_on) == (due, concluded)
    published = move(acted, S.PUBLISHED, due)
    assert (published.answer_due_on, published.concluded_on) == (None, concluded)
    assert move(published, S.CLOSED, due).answer_due_on is None


# --- Art. 37: a contested result is reviewed within 20 days ---


@pytest.mark.parametrize(
    ("source", "on", "due", "triage_on", "triage_due"),
    [
        (S.CLOSED, date(2026, 8, 24), date(2026, 9, 13), date(2026, 8, 31), date(2026, 9, 11)),
        (S.NOT_ACCEPTED, date(2026, 2, 9), date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 11)),
    ],
)
def test_art_37_review_within_20_days(source: State, on: date, due: date, triage_on: date, triage_due: date) -> None:
    review = move(Clock(source, date(2026, 1, 5), first_decision_on=date(2026, 1, 5)), S.RE_DENOUNCED, on)
    assert review.answer_due_on == due
    again = move(review, S.TRIAGE, triage_on, identified=True)
    assert again.answer_due_on == triage_due
    assert move(review, S.CLOSED, triage_on).answer_due_on is None
    # Days to first answer keep measuring the first decision, not the review's.
    assert move(again, S.ACCEPTED, triage_on).first_decision_on == date(2026, 1, 5)


def test_a_re_accepted_case_gets_a_new_resolution_period_with_its_own_extensions() -> None:
    triage = Clock(S.TRIAGE, date(2026, 3, 2), answer_due_on=date(2026, 3, 11), extensions=2)
    assert move(triage, S.ACCEPTED, date(2026, 3, 5)) == Clock(
        S.ACCEPTED, date(2026, 3, 5), date(2026, 4, 4), date(2026, 4, 4), first_decision_on=date(2026, 3, 5)
    )


@pytest.mark.parametrize(
    "target",
    [S.NOT_ACCEPTED, S.ARCHIVED_INSUFFICIENT, S.REDIRECTED_COMPLAINT],
)
def test_refusals_owe_no_further_answer(target: State) -> None:
    clock = move(Clock(S.TRIAGE, date(2026, 3, 2), answer_due_on=date(2026, 3, 11)), target, date(2026, 3, 3))
    assert (clock.answer_due_on, clock.first_decision_on, clock.state_since) == (
        None,
        date(2026, 3, 3),
        date(2026, 3, 3),
    )


@pytest.mark.parametrize("target", [S.TERMINATED, S.WITHDRAWN])
def test_ended_handling_owes_no_further_answer(target: State) -> None:
    verifying = Clock(S.VERIFYING, date(2026, 3, 2), date(2026, 4, 1), date(2026, 4, 1))
    assert move(verifying, target, date(2026, 3, 20)).answer_due_on is None


@pytest.mark.parametrize(
    ("due", "today", "overdue"),
    [
        (None, date(2026, 3, 3), False),
        (date(2026, 3, 3), date(2026, 3, 3), False),
        (date(2026, 3, 3), date(2026, 3, 4), True),
    ],
)
def test_overdue_only_after_the_last_day(due: date | None, today: date, overdue: bool) -> None:
    assert is_overdue(Clock(S.TRIAGE, date(2026, 3, 2), answer_due_on=due), today) is overdue


# --- The transition graph (DESIGN.md section 5) ---

ALLOWED = {
    (S.RECEIVED, S.TRIAGE),
    *(
        (S.TRIAGE, target)
        for target in (
            S.NEED_INFO,
            S.TRANSFERRED,
            S.REFERRED_CRIMINAL,
            S.NOT_ACCEPTED,
            S.ARCHIVED_INSUFFICIENT,
            S.MGMT_INSPECTION,
            S.PAKN_HANDLING,
            S.REDIRECTED_COMPLAINT,
            S.ACCEPTED,
        )
    ),
    (S.NEED_INFO, S.TRIAGE),
    (S.ACCEPTED, S.VERIFYING),
    *((S.VERIFYING, target) for target in (S.EXTENDED, S.SUSPENDED, S.TERMINATED, S.WITHDRAWN, S.CONCLUDED)),
    (S.EXTENDED, S.VERIFYING),
    (S.SUSPENDED, S.VERIFYING),
    (S.CONCLUDED, S.ACTION_TAKEN),
    (S.ACTION_TAKEN, S.PUBLISHED),
    (S.PUBLISHED, S.CLOSED),
    (S.ARCHIVED_INSUFFICIENT, S.TRIAGE),
    *(
        (source, S.CLOSED)
        for source in (
            S.TRANSFERRED,
            S.REFERRED_CRIMINAL,
            S.MGMT_INSPECTION,
            S.PAKN_HANDLING,
            S.REDIRECTED_COMPLAINT,
            S.TERMINATED,
            S.WITHDRAWN,
        )
    ),
    (S.CLOSED, S.RE_DENOUNCED),
    (S.NOT_ACCEPTED, S.RE_DENOUNCED),
    (S.RE_DENOUNCED, S.TRIAGE),
    (S.RE_DENOUNCED, S.CLOSED),
}


def test_exactly_the_designed_transitions_are_offered() -> None:
    offered = {(source, step.target) for source in State for step in steps_from(source)}
    assert offered == ALLOWED
    for source, target in ALLOWED:
        assert step_to(source, target).target == target


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (S.RECEIVED, S.ACCEPTED),
        (S.CLOSED, S.VERIFYING),
        (S.EXTENDED, S.CONCLUDED),
        (S.TRIAGE, S.CONCLUDED),
        (S.NEED_INFO, S.ACCEPTED),
        (S.SUSPENDED, S.CONCLUDED),
        (S.ARCHIVED_INSUFFICIENT, S.CLOSED),
        (S.PUBLISHED, S.RE_DENOUNCED),
        (S.WITHDRAWN, S.VERIFYING),
        (S.RE_DENOUNCED, S.ACCEPTED),
        (S.VERIFYING, S.VERIFYING),
    ],
)
def test_forbidden_transitions_are_refused(source: State, target: State) -> None:
    with pytest.raises(TransitionError):
        step_to(source, target)
    with pytest.raises(TransitionError):
        move(Clock(source, date(2026, 3, 2), date(2026, 4, 1), date(2026, 4, 1), 5), target, date(2026, 3, 3))


def test_a_step_cannot_be_dated_before_the_current_state() -> None:
    with pytest.raises(TransitionError):
        move(Clock(S.RECEIVED, date(2026, 3, 2), answer_due_on=date(2026, 3, 11)), S.TRIAGE, date(2026, 3, 1))


@pytest.mark.parametrize("state", [S.RECEIVED, S.TRIAGE, S.VERIFYING, S.CLOSED, S.NOT_ACCEPTED])
def test_the_reporter_reopens_only_a_waiting_or_archived_case(state: State) -> None:
    with pytest.raises(TransitionError):
        reopen_by_reporter(Clock(state, date(2026, 3, 2)), date(2026, 3, 3), CAL, identified=False)


def test_every_state_is_reachable_and_every_deadline_is_labelled() -> None:
    """Walk the graph from a new report: every state is reached, every step has a button label, and a
    state carries a deadline label exactly when the clock gives it a deadline."""
    start = filed("TO_CAO", date(2026, 1, 5), CAL)
    reached = {start.state: start}
    queue = deque([start])
    while queue:
        clock = queue.popleft()
        assert (clock.state in DEADLINE_LABELS) == (clock.answer_due_on is not None), clock
        for step in steps_from(clock.state):
            assert step.target in STEP_LABELS
            ground = Extension.ESPECIALLY_COMPLEX if step.needs_extension else None
            nxt = move(clock, step.target, date(2026, 1, 6), extension=ground)
            assert (nxt.state in DEADLINE_LABELS) == (nxt.answer_due_on is not None), nxt
            if nxt.state not in reached:
                reached[nxt.state] = nxt
                queue.append(nxt)
    assert set(reached) == set(State)


# --- What each step asks of the inspector ---


def targets_where(flag: str) -> set[State]:
    return {step.target for source in State for step in steps_from(source) if getattr(step, flag)}


def test_what_each_step_needs() -> None:
    assert targets_where("lead_only") == {
        S.NOT_ACCEPTED,
        S.ARCHIVED_INSUFFICIENT,
        S.TERMINATED,
        S.CONCLUDED,
        S.CLOSED,
    }
    assert targets_where("tells_reporter") == {
        S.NEED_INFO,
        S.NOT_ACCEPTED,
        S.ARCHIVED_INSUFFICIENT,
        S.REDIRECTED_COMPLAINT,
        S.SUSPENDED,
        S.TERMINATED,
        S.CONCLUDED,
    }
    assert targets_where("needs_body") == {S.TRANSFERRED, S.REFERRED_CRIMINAL}
    assert targets_where("needs_extension") == {S.EXTENDED}
    assert targets_where("needs_reason") == {
        S.NEED_INFO,
        S.TRANSFERRED,
        S.REFERRED_CRIMINAL,
        S.NOT_ACCEPTED,
        S.ARCHIVED_INSUFFICIENT,
        S.REDIRECTED_COMPLAINT,
        S.EXTENDED,
        S.SUSPENDED,
        S.TERMINATED,
        S.WITHDRAWN,
        S.CONCLUDED,
        S.RE_DENOUNCED,
        S.CLOSED,
    }


@pytest.mark.parametrize(
    ("source", "needs_result"),
    [
        (S.TRANSFERRED, True),
        (S.REFERRED_CRIMINAL, True),
        (S.PUBLISHED, False),
        (S.MGMT_INSPECTION, False),
        (S.RE_DENOUNCED, False),
    ],
)
def test_closing_a_forwarded_case_records_the_other_body_result(source: State, needs_result: bool) -> None:
    assert step_to(source, S.CLOSED).needs_reason is needs_result
