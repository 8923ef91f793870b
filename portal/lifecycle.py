"""Case states, their legal clocks and the allowed transitions (DESIGN.md section 5).

Pure functions over a `Clock` (the deadline columns of a case), so every article's arithmetic is
testable without a database. The reporter sees a coarse label, never the internal step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import TypeVar

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from portal.taxonomy import IDENTIFIED_TYPES
from portal.workdays import WorkCalendar, add_months

T = TypeVar("T")


class State(StrEnum):
    RECEIVED = "RECEIVED"
    TRIAGE = "TRIAGE"
    NEED_INFO = "NEED_INFO"
    TRANSFERRED = "TRANSFERRED"
    REFERRED_CRIMINAL = "REFERRED_CRIMINAL"
    NOT_ACCEPTED = "NOT_ACCEPTED"
    ARCHIVED_INSUFFICIENT = "ARCHIVED_INSUFFICIENT"
    MGMT_INSPECTION = "MGMT_INSPECTION"
    PAKN_HANDLING = "PAKN_HANDLING"
    REDIRECTED_COMPLAINT = "REDIRECTED_COMPLAINT"
    ACCEPTED = "ACCEPTED"
    VERIFYING = "VERIFYING"
    EXTENDED = "EXTENDED"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"
    WITHDRAWN = "WITHDRAWN"
    CONCLUDED = "CONCLUDED"
    ACTION_TAKEN = "ACTION_TAKEN"
    PUBLISHED = "PUBLISHED"
    CLOSED = "CLOSED"
    RE_DENOUNCED = "RE_DENOUNCED"


# The inspectors' names for the states (the official terms of DESIGN.md section 5).
STATE_NAMES: dict[State, LazyString] = {
    State.RECEIVED: _l("Received"),
    State.TRIAGE: _l("Classification and initial handling"),
    State.NEED_INFO: _l("More information requested"),
    State.TRANSFERRED: _l("Transferred to the competent body"),
    State.REFERRED_CRIMINAL: _l("Referred to the investigating body or the procuracy"),
    State.NOT_ACCEPTED: _l("Not accepted"),
    State.ARCHIVED_INSUFFICIENT: _l("Archived: not enough grounds"),
    State.MGMT_INSPECTION: _l("Used for inspection and oversight"),
    State.PAKN_HANDLING: _l("Handled as feedback or a petition"),
    State.REDIRECTED_COMPLAINT: _l("Guided to file a complaint"),
    State.ACCEPTED: _l("Accepted"),
    State.VERIFYING: _l("Verifying"),
    State.EXTENDED: _l("Time limit extended"),
    State.SUSPENDED: _l("Suspended"),
    State.TERMINATED: _l("Terminated"),
    State.WITHDRAWN: _l("Withdrawn"),
    State.CONCLUDED: _l("Concluded"),
    State.ACTION_TAKEN: _l("Action taken on the conclusion"),
    State.PUBLISHED: _l("Conclusion published"),
    State.CLOSED: _l("Closed"),
    State.RE_DENOUNCED: _l("Under review"),
}

_RECEIVED = _l("Received, waiting for classification")
_IN_PROGRESS = _l("Being handled")
_CLOSED = _l("Handling finished")

REPORTER_LABELS: dict[State, LazyString] = {
    State.RECEIVED: _RECEIVED,
    State.TRIAGE: _l("Being classified"),
    State.NEED_INFO: _l("The inspectors ask you for more information"),
    State.TRANSFERRED: _l("Transferred to the competent authority"),
    State.REFERRED_CRIMINAL: _l("Transferred to the investigating authority or the procuracy"),
    State.NOT_ACCEPTED: _l("Not accepted for handling"),
    State.ARCHIVED_INSUFFICIENT: _l("Archived: not enough grounds yet; new evidence reopens it"),
    State.MGMT_INSPECTION: _l("Used for inspection and oversight"),
    State.PAKN_HANDLING: _l("Handled as feedback or a petition"),
    State.REDIRECTED_COMPLAINT: _l("Guidance sent on how to file a complaint"),
    State.ACCEPTED: _l("Accepted for handling"),
    State.VERIFYING: _IN_PROGRESS,
    State.EXTENDED: _l("Being handled; the time limit was extended"),
    State.SUSPENDED: _l("Handling temporarily suspended"),
    State.TERMINATED: _l("Handling terminated"),
    State.WITHDRAWN: _l("Withdrawn"),
    State.CONCLUDED: _l("Concluded"),
    State.ACTION_TAKEN: _l("Action taken on the conclusion"),
    State.PUBLISHED: _l("Conclusion published"),
    State.CLOSED: _CLOSED,
    State.RE_DENOUNCED: _l("Under review again"),
}

# Law on Denunciation Art. 24(1): 7 working days to classify an identified denunciation; the Law
# on Citizen Reception Art. 28 and good practice give feedback and anonymous reports 10.
TRIAGE_WORKING_DAYS_IDENTIFIED = 7
TRIAGE_WORKING_DAYS_OTHER = 10


def first_answer_due(report_type: str, received_on: date, calendar: WorkCalendar) -> date:
    return _triage_due(received_on, calendar, identified=report_type in IDENTIFIED_TYPES)


def _triage_due(start: date, calendar: WorkCalendar, *, identified: bool) -> date:
    days = TRIAGE_WORKING_DAYS_IDENTIFIED if identified else TRIAGE_WORKING_DAYS_OTHER
    return calendar.add_working_days(start, days)


# New information from the reporter sends a waiting or insufficient case back to triage.
REOPENED_BY_REPORTER = frozenset({State.NEED_INFO, State.ARCHIVED_INSUFFICIENT})
REOPENS_TO = State.TRIAGE

# Law on Denunciation Art. 30: 30 days to resolve once accepted, +30 per extension; calendar days.
RESOLUTION_DAYS = 30
EXTENSION_DAYS = 30
# Art. 40: the conclusion is published within 7 working days; acting on it has the same limit.
PUBLISH_WORKING_DAYS = 7
# Art. 37: the higher level reviews a contested result within 20 days.
REVIEW_DAYS = 20
# Law on Citizen Reception Art. 28: feedback and petitions get a first answer within 10 working days.
PAKN_FIRST_ANSWER_WORKING_DAYS = 10
# Good practice, not law: the receiving body's 10 working days of triage plus 30 days to resolve,
# after which the inspectorate asks for the result of a transferred case.
TRANSFER_FOLLOW_UP_DAYS = 45
# Criminal Procedure Code 2015 (Art. 147, to be confirmed): 20 days to resolve a denunciation of a crime.
CRIMINAL_REFERRAL_DAYS = 20
# Good practice (EU Directive 2019/1937): feedback on information used for inspection within 3 months.
MGMT_FEEDBACK_MONTHS = 3


class Extension(StrEnum):
    """Art. 30: a complex case may be extended once, an especially complex one twice."""

    COMPLEX = "COMPLEX"
    ESPECIALLY_COMPLEX = "ESPECIALLY_COMPLEX"


_MAX_EXTENSIONS = {Extension.COMPLEX: 1, Extension.ESPECIALLY_COMPLEX: 2}


class TransitionError(ValueError):
    """A step the law or the workflow does not allow; the message is English, for logs and tests."""


@dataclass(frozen=True)
class Step:
    """What moving to `target` asks of the inspector, so the form shows exactly the fields it needs."""

    target: State
    needs_reason: bool
    tells_reporter: bool
    needs_body: bool
    needs_extension: bool
    lead_only: bool


@dataclass(frozen=True)
class Clock:
    """The deadline-bearing fields of a case, named like the columns of `portal.models.Case`."""

    state: State
    state_since: date
    answer_due_on: date | None = None  # the nearest deadline: the reporter's "next answer expected by"
    resolution_due_on: date | None = None  # Art. 30, once accepted
    paused_days_left: int | None = None  # working days in NEED_INFO, calendar days in SUSPENDED
    extensions: int = 0
    first_decision_on: date | None = None
    concluded_on: date | None = None


# Allowed next states, in the order the buttons are shown: the usual outcome first, refusals last.
_NEXT: dict[State, tuple[State, ...]] = {
    State.RECEIVED: (State.TRIAGE,),
    State.TRIAGE: (
        State.ACCEPTED,
        State.NEED_INFO,
        State.TRANSFERRED,
        State.REFERRED_CRIMINAL,
        State.PAKN_HANDLING,
        State.MGMT_INSPECTION,
        State.REDIRECTED_COMPLAINT,
        State.ARCHIVED_INSUFFICIENT,
        State.NOT_ACCEPTED,
    ),
    State.NEED_INFO: (State.TRIAGE,),
    State.TRANSFERRED: (State.CLOSED,),
    State.REFERRED_CRIMINAL: (State.CLOSED,),
    State.NOT_ACCEPTED: (State.RE_DENOUNCED,),
    State.ARCHIVED_INSUFFICIENT: (State.TRIAGE,),
    State.MGMT_INSPECTION: (State.CLOSED,),
    State.PAKN_HANDLING: (State.CLOSED,),
    State.REDIRECTED_COMPLAINT: (State.CLOSED,),
    State.ACCEPTED: (State.VERIFYING,),
    State.VERIFYING: (State.CONCLUDED, State.EXTENDED, State.SUSPENDED, State.TERMINATED, State.WITHDRAWN),
    State.EXTENDED: (State.VERIFYING,),
    State.SUSPENDED: (State.VERIFYING,),
    State.TERMINATED: (State.CLOSED,),
    State.WITHDRAWN: (State.CLOSED,),
    State.CONCLUDED: (State.ACTION_TAKEN,),
    State.ACTION_TAKEN: (State.PUBLISHED,),
    State.PUBLISHED: (State.CLOSED,),
    State.CLOSED: (State.RE_DENOUNCED,),
    State.RE_DENOUNCED: (State.TRIAGE, State.CLOSED),
}
_NEEDS_REASON = frozenset(
    {
        State.NEED_INFO,
        State.TRANSFERRED,
        State.REFERRED_CRIMINAL,
        State.NOT_ACCEPTED,
        State.ARCHIVED_INSUFFICIENT,
        State.REDIRECTED_COMPLAINT,
        State.EXTENDED,
        State.SUSPENDED,
        State.TERMINATED,
        State.WITHDRAWN,
        State.CONCLUDED,
        State.RE_DENOUNCED,
    }
)
# Art. 9: the reporter is told of refusal, suspension, termination and the conclusion, with the reason.
_TELLS_REPORTER = frozenset(
    {
        State.NEED_INFO,
        State.NOT_ACCEPTED,
        State.ARCHIVED_INSUFFICIENT,
        State.REDIRECTED_COMPLAINT,
        State.SUSPENDED,
        State.TERMINATED,
        State.CONCLUDED,
    }
)
# Sent to another body: the step names it, and closing the case records that body's result.
_FORWARDED = frozenset({State.TRANSFERRED, State.REFERRED_CRIMINAL})
# Refusing or ending a case is the lead inspector's decision.
_LEAD_ONLY = frozenset(
    {State.NOT_ACCEPTED, State.ARCHIVED_INSUFFICIENT, State.TERMINATED, State.CONCLUDED, State.CLOSED}
)


def _step(source: State, target: State) -> Step:
    return Step(
        target=target,
        needs_reason=target in _NEEDS_REASON or (target == State.CLOSED and source in _FORWARDED),
        tells_reporter=target in _TELLS_REPORTER,
        needs_body=target in _FORWARDED,
        needs_extension=target == State.EXTENDED,
        lead_only=target in _LEAD_ONLY,
    )


def steps_from(state: State) -> list[Step]:
    """The steps offered from `state`: what it needs can depend on where the case comes from."""
    return [_step(state, target) for target in _NEXT[state]]


def step_to(state: State, target: State) -> Step:
    """The step from `state` to `target`, refused when the workflow does not lead there."""
    if target not in _NEXT[state]:
        raise TransitionError(f"a case in {state} cannot move to {target}")
    return _step(state, target)


def filed(report_type: str, received_on: date, calendar: WorkCalendar) -> Clock:
    """A new case: the triage clock (Art. 24(1)) runs from the day of receipt."""
    return Clock(State.RECEIVED, received_on, answer_due_on=first_answer_due(report_type, received_on, calendar))


def _required(value: T | None, what: str) -> T:
    """A clock the current state must have: missing, the case is broken and must not count as zero days."""
    if value is None:
        raise TransitionError(f"the case has no {what}")
    return value


def _check_extension(clock: Clock, extension: Extension | None) -> None:
    if extension is None:
        raise TransitionError("an extension needs its ground: COMPLEX or ESPECIALLY_COMPLEX")
    if clock.extensions >= _MAX_EXTENSIONS[extension]:
        raise TransitionError(f"a {extension} case may be extended at most {_MAX_EXTENSIONS[extension]} times")


def advance(
    clock: Clock,
    target: State,
    on: date,
    calendar: WorkCalendar,
    *,
    identified: bool,
    extension: Extension | None = None,
) -> Clock:
    """The clock after moving to `target` on `on`; `identified` picks the 7 or 10 working-day triage period."""
    step_to(clock.state, target)
    if on < clock.state_since:
        raise TransitionError(f"{target} on {on} is before the case entered {clock.state} on {clock.state_since}")
    moved = replace(clock, state=State(target), state_since=on)
    if clock.state == State.TRIAGE and target != State.NEED_INFO and clock.first_decision_on is None:
        moved = replace(moved, first_decision_on=on)
    match target:
        case State.TRIAGE if clock.state == State.NEED_INFO:
            due = calendar.add_working_days(on, _required(clock.paused_days_left, "paused triage clock"))
            return replace(moved, answer_due_on=due, paused_days_left=None)
        case State.TRIAGE if clock.state != State.RECEIVED:  # reopened after archiving, or sent back by a review
            return replace(moved, answer_due_on=_triage_due(on, calendar, identified=identified))
        case State.NEED_INFO:
            left = calendar.working_days_between(on, _required(clock.answer_due_on, "triage deadline"))
            return replace(moved, answer_due_on=None, paused_days_left=left)
        case State.TRANSFERRED:
            return replace(moved, answer_due_on=on + timedelta(days=TRANSFER_FOLLOW_UP_DAYS))
        case State.REFERRED_CRIMINAL:
            return replace(moved, answer_due_on=on + timedelta(days=CRIMINAL_REFERRAL_DAYS))
        case State.MGMT_INSPECTION:
            return replace(moved, answer_due_on=add_months(on, MGMT_FEEDBACK_MONTHS))
        case State.PAKN_HANDLING:
            return replace(moved, answer_due_on=calendar.add_working_days(on, PAKN_FIRST_ANSWER_WORKING_DAYS))
        case State.ACCEPTED:
            # A re-accepted case (after review) starts a new Art. 30 period with its own extensions.
            due = on + timedelta(days=RESOLUTION_DAYS)
            return replace(moved, resolution_due_on=due, answer_due_on=due, extensions=0)
        case State.VERIFYING if clock.state == State.SUSPENDED:
            due = on + timedelta(days=_required(clock.paused_days_left, "paused resolution clock"))
            return replace(moved, resolution_due_on=due, answer_due_on=due, paused_days_left=None)
        case State.EXTENDED:
            _check_extension(clock, extension)
            due = _required(clock.resolution_due_on, "resolution deadline") + timedelta(days=EXTENSION_DAYS)
            return replace(moved, resolution_due_on=due, answer_due_on=due, extensions=clock.extensions + 1)
        case State.SUSPENDED:
            # Art. 34: suspended time does not count, so the days left are kept and the deadline cleared.
            left = max(0, (_required(clock.resolution_due_on, "resolution deadline") - on).days)
            return replace(moved, answer_due_on=None, resolution_due_on=None, paused_days_left=left)
        case State.CONCLUDED:
            return replace(moved, concluded_on=on, answer_due_on=calendar.add_working_days(on, PUBLISH_WORKING_DAYS))
        case State.RE_DENOUNCED:
            return replace(moved, answer_due_on=on + timedelta(days=REVIEW_DAYS))
        case State.TRIAGE | State.VERIFYING | State.ACTION_TAKEN:
            return moved  # the running deadline carries on
        case _:
            return replace(moved, answer_due_on=None)  # refused, redirected, ended or published: nothing more is due


def reopen_by_reporter(clock: Clock, on: date, calendar: WorkCalendar, *, identified: bool) -> Clock:
    """The reporter added information: a waiting case resumes triage, an archived one gets a fresh triage period."""
    if clock.state not in REOPENED_BY_REPORTER:
        raise TransitionError(f"new information from the reporter does not reopen a case in {clock.state}")
    return advance(clock, REOPENS_TO, on, calendar, identified=identified)


def is_overdue(clock: Clock, today: date) -> bool:
    """Late only from the day after the deadline: the last day itself is still in time."""
    return clock.answer_due_on is not None and clock.answer_due_on < today


_DECIDE = _l("Decide whether to accept (Law on Denunciation Art. 24)")
_RESOLVE = _l("Resolve the denunciation (Law on Denunciation Art. 30)")
_PUBLISH = _l("Publish the conclusion (Law on Denunciation Art. 40)")

# What the current deadline is for; paused and finished states have none.
DEADLINE_LABELS: dict[State, LazyString] = {
    State.RECEIVED: _DECIDE,
    State.TRIAGE: _DECIDE,
    State.TRANSFERRED: _l("Ask the competent body for its result (good practice, not a legal time limit)"),
    State.REFERRED_CRIMINAL: _l("Ask the investigating body for its decision (Criminal Procedure Code)"),
    State.MGMT_INSPECTION: _l("Give the reporter feedback (good practice: EU Directive 2019/1937)"),
    State.PAKN_HANDLING: _l("Give a first answer (Law on Citizen Reception Art. 28)"),
    State.ACCEPTED: _RESOLVE,
    State.VERIFYING: _RESOLVE,
    State.EXTENDED: _l("Resolve within the extended time limit (Law on Denunciation Art. 30)"),
    State.CONCLUDED: _PUBLISH,
    State.ACTION_TAKEN: _PUBLISH,
    State.RE_DENOUNCED: _l("Review the contested result (Law on Denunciation Art. 37)"),
}

STEP_LABELS: dict[State, LazyString] = {
    State.TRIAGE: _l("Move to triage"),
    State.NEED_INFO: _l("Ask the reporter for more information"),
    State.TRANSFERRED: _l("Transfer to the competent body"),
    State.REFERRED_CRIMINAL: _l("Refer to the investigating body or the procuracy"),
    State.NOT_ACCEPTED: _l("Refuse to accept"),
    State.ARCHIVED_INSUFFICIENT: _l("Archive: not enough grounds yet"),
    State.MGMT_INSPECTION: _l("Use for inspection and oversight"),
    State.PAKN_HANDLING: _l("Handle as feedback or a petition"),
    State.REDIRECTED_COMPLAINT: _l("Send guidance on filing a complaint"),
    State.ACCEPTED: _l("Accept for handling"),
    State.VERIFYING: _l("Verify"),
    State.EXTENDED: _l("Extend the time limit"),
    State.SUSPENDED: _l("Suspend handling"),
    State.TERMINATED: _l("Terminate handling"),
    State.WITHDRAWN: _l("Record the withdrawal"),
    State.CONCLUDED: _l("Record the conclusion"),
    State.ACTION_TAKEN: _l("Record the action taken"),
    State.PUBLISHED: _l("Record the publication"),
    State.CLOSED: _l("Close the case"),
    State.RE_DENOUNCED: _l("Open a review of the result"),
}
