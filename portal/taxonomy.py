"""The form's vocabularies (DOMAIN.md "Form taxonomy"): stable codes stored, translated labels shown.

Codes never change once shipped: they are what sealed reports and triage metadata hold. Labels
are English message ids; the Vietnamese catalog carries the official wording.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flask_babel import get_locale, lazy_gettext as _l
from wtforms.fields.choices import SelectChoice

DATA_DIR = Path(__file__).resolve().parent.parent / "config" / "data"

Choices = list[SelectChoice]


def _choices(*pairs: tuple[str, object]) -> Choices:
    return [SelectChoice(code, text) for code, text in pairs]  # type: ignore[arg-type]


REPORT_TYPES = _choices(
    ("THONG_TIN_TO_CAO", _l("Anonymous report of wrongdoing")),
    ("TO_CAO", _l("Denunciation with my name (identified)")),
    ("PHAN_ANH", _l("Feedback on misconduct")),
    ("KIEN_NGHI", _l("Proposal or petition")),
    ("KHIEU_NAI", _l("Complaint about a decision that affects me")),
)
IDENTIFIED_TYPES = frozenset({"TO_CAO"})

MISCONDUCT = _choices(
    ("BRIBERY", _l("Bribery")),
    ("EMBEZZLEMENT", _l("Embezzlement, appropriation of public assets")),
    ("ABUSE_OF_POSITION", _l("Abuse of position or power")),
    ("INFLUENCE_PEDDLING", _l("Influence peddling, conflict of interest")),
    ("HARASSMENT", _l("Harassment of citizens or businesses for gain")),
    ("BUYING_POSTS", _l("Buying posts or power")),
    ("PERSONNEL", _l("Violations in recruitment, appointment or evaluation; nepotism")),
    ("GROUP_INTERESTS", _l("Group interests, collusion")),
    ("WASTE", _l("Waste of public funds and assets")),
    ("MISUSE_OF_PROPERTY", _l("Misuse of public property")),
    ("FORGERY", _l("Forgery of documents")),
    ("COVER_UP", _l("Cover-up, obstruction of oversight")),
    ("DERELICTION", _l("Dereliction of duty, evasion, passing the buck")),
    ("ETHICS", _l("Degradation of ethics and lifestyle")),
    ("RETALIATION", _l("Retaliation against people who report")),
    ("OTHER", _l("Other")),
)

SECTORS = _choices(
    ("LAND", _l("Land")),
    ("CONSTRUCTION", _l("Construction, planning")),
    ("PUBLIC_INVESTMENT", _l("Public investment")),
    ("PROCUREMENT", _l("Bidding, public procurement")),
    ("FINANCE", _l("Finance, budget, public assets")),
    ("TAX_CUSTOMS", _l("Tax, customs")),
    ("BANKING", _l("Banking, bonds")),
    ("ENVIRONMENT", _l("Natural resources, environment")),
    ("HEALTH", _l("Health")),
    ("EDUCATION", _l("Education")),
    ("TRANSPORT", _l("Transport, vehicle inspection")),
    ("JUSTICE", _l("Justice, civil registration")),
    ("POLICE", _l("Police, administrative fines")),
    ("LABOUR", _l("Labour, social insurance")),
    ("AGRICULTURE", _l("Agriculture")),
    ("STATE_ENTERPRISE", _l("State-owned enterprises")),
    ("ADMIN_PROCEDURES", _l("Administrative procedures")),
    ("PERSONNEL_ORG", _l("Organisation and personnel")),
    ("OTHER", _l("Other")),
)

SUBJECT_LEVELS = _choices(
    ("CITY", _l("City level (departments, city agencies)")),
    ("WARD", _l("Ward or commune level")),
    ("PUBLIC_UNIT", _l("Public service unit (hospital, school, ...)")),
    ("STATE_ENTERPRISE", _l("State-owned enterprise")),
    ("OTHER", _l("Other or I do not know")),
)

KNOWLEDGE_SOURCES = _choices(
    ("VICTIM", _l("It happened to me")),
    ("EYEWITNESS", _l("I saw it myself")),
    ("INSIDER", _l("I work there")),
    ("HEARSAY", _l("I heard it from others")),
    ("MEDIA", _l("From the media or social networks")),
    ("OTHER", _l("Other")),
)

ONGOING = _choices(
    ("YES", _l("Yes, it is still going on")),
    ("NO", _l("No, it has ended")),
    ("UNKNOWN", _l("I do not know")),
)

RETALIATION_RISK = _choices(
    ("UNKNOWN", _l("I do not know")),
    ("LOW", _l("Low")),
    ("HIGH", _l("High: I or my family could be harmed")),
    ("ALREADY", _l("I have already suffered retaliation")),
)

YES_NO = _choices(("NO", _l("No")), ("YES", _l("Yes")))


@dataclass(frozen=True)
class Ward:
    code: str
    name_vi: str
    name_en: str
    unit_type: str


@cache
def wards() -> tuple[Ward, ...]:
    """The 126 Hanoi ward-level units (CC BY 4.0, see config/data/ATTRIBUTION.md)."""
    with open(DATA_DIR / "hanoi_wards_2025.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return tuple(
        Ward(row["ward_code"], row["full_name"], row["full_name_en"], row["unit_type"])
        for row in sorted(rows, key=lambda row: row["code_name"])
    )


def ward_choices() -> Choices:
    return _ward_choices(str(get_locale()) == "en")


@cache
def _ward_choices(english: bool) -> Choices:
    """Built once per language and process: every report form shows all 126 units."""
    return [SelectChoice(ward.code, ward.name_en if english else ward.name_vi) for ward in wards()]
