"""Case states (DESIGN.md section 5) and what the reporter is told about each.

The reporter sees a coarse label, never the internal step: the full transition engine with its
legal clocks is built on these codes by the reviewer side.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from portal.taxonomy import IDENTIFIED_TYPES
from portal.workdays import WorkCalendar


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
    days = TRIAGE_WORKING_DAYS_IDENTIFIED if report_type in IDENTIFIED_TYPES else TRIAGE_WORKING_DAYS_OTHER
    return calendar.add_working_days(received_on, days)


# New information from the reporter sends a waiting or insufficient case back to triage.
REOPENED_BY_REPORTER = frozenset({State.NEED_INFO, State.ARCHIVED_INSUFFICIENT})
REOPENS_TO = State.TRIAGE
