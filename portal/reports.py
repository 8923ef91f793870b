"""What a report holds: the form a citizen fills in, the sealed document made from it, and the
labelled view of that document shown back to the reporter (and later to inspectors).

The form is the schema: field names are the document's keys and its labels are the ones shown,
so the three can never drift apart.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask_babel import get_locale, lazy_gettext as _l
from wtforms import BooleanField, Field, RadioField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from portal import taxonomy
from portal.forms import MultiCheckboxField, PortalForm, TextBlock, TextLine, WithEvidence

REPORT_SCHEMA = "report/1"
_TOO_LONG = _l("This text is too long: at most %(max)d characters.")
_REQUIRED_FOR_IDENTIFIED = _l("Required for a denunciation with your name.")


def _max(length: int) -> Length:
    return Length(max=length, message=_TOO_LONG)


def _blank(prompt: Any) -> taxonomy.Choices:
    return [SelectChoice("", prompt)]


class ReportForm(WithEvidence, PortalForm):
    # 1. Kind of report
    report_type = RadioField(
        _l("What kind of report is this?"),
        choices=taxonomy.REPORT_TYPES,
        default="THONG_TIN_TO_CAO",
        validators=[InputRequired(message=_l("Choose the kind of report."))],
    )
    # 2. What happened
    misconduct = MultiCheckboxField(_l("What kind of wrongdoing? Choose all that apply."), choices=taxonomy.MISCONDUCT)
    sector = SelectField(
        _l("Sector"), choices=_blank(_l("Choose a sector (optional)")) + taxonomy.SECTORS, validators=[Optional()]
    )
    narrative = TextBlock(
        _l("What happened?"),
        description=_l(
            "Describe what was done, by whom, and how. Facts that can be checked (dates, amounts, "
            "document numbers) make it possible to act."
        ),
        validators=[
            DataRequired(message=_l("Please describe what happened.")),
            Length(min=30, message=_l("Please describe what happened in at least %(min)d characters.")),
            _max(20000),
        ],
    )
    money_involved = TextLine(_l("Money or assets involved (if known)"), validators=[_max(500)])
    harm = TextBlock(_l("What harm has it done?"), validators=[_max(5000)])
    # 3. Who
    subject_name = TextLine(_l("Name of the official, or a description"), validators=[_max(300)])
    subject_position = TextLine(_l("Position or title"), validators=[_max(300)])
    subject_agency = TextLine(_l("Agency or unit"), validators=[_max(300)])
    subject_level = SelectField(
        _l("Level"), choices=_blank(_l("Choose a level (optional)")) + taxonomy.SUBJECT_LEVELS, validators=[Optional()]
    )
    # 4. When and where
    period = TextLine(_l("When did it happen? A date or a period"), validators=[_max(200)])
    ongoing = RadioField(_l("Is it still going on?"), choices=taxonomy.ONGOING, default="UNKNOWN")
    ward = SelectField(_l("Ward or commune"), choices=[], validators=[Optional()])
    former_district = TextLine(_l("Former district (optional)"), validators=[_max(200)])
    location = TextLine(_l("Address, place or project name"), validators=[_max(500)])
    # 5. Evidence and how you know
    evidence = TextBlock(
        _l("What evidence exists, what does it show, and where can more be found?"), validators=[_max(5000)]
    )
    knowledge = SelectField(
        _l("How do you know about this?"),
        choices=_blank(_l("Choose one (optional)")) + taxonomy.KNOWLEDGE_SOURCES,
        validators=[Optional()],
    )
    witnesses = TextBlock(_l("Who else knows about it, and can they be contacted?"), validators=[_max(3000)])
    reported_before = RadioField(_l("Have you reported this anywhere before?"), choices=taxonomy.YES_NO, default="NO")
    reported_before_details = TextBlock(_l("If so: where, when, and with what result?"), validators=[_max(3000)])
    # 6. Safety
    retaliation_risk = RadioField(
        _l("Could you face retaliation for this report?"), choices=taxonomy.RETALIATION_RISK, default="UNKNOWN"
    )
    protection_requested = BooleanField(_l("I ask for protection for myself or my family"))
    # 7. Identity: optional, sealed apart from the report
    full_name = TextLine(_l("Full name"), validators=[_max(200)])
    address = TextLine(_l("Address"), validators=[_max(500)])
    id_number = TextLine(_l("Citizen ID number"), validators=[_max(20)])
    contact = TextLine(_l("Phone number or e-mail"), validators=[_max(200)])
    consent_contact = BooleanField(_l("The inspectorate may contact me"))
    truthful = BooleanField(_l("I commit that this report is truthful and I take responsibility for it"))
    # A field people never see; software that fills in every field gives itself away.
    website = TextLine(_l("Leave this field empty"), validators=[_max(200)])

    REPORT_FIELDS = (
        "report_type", "misconduct", "sector", "narrative", "money_involved", "harm", "subject_name",
        "subject_position", "subject_agency", "subject_level", "period", "ongoing", "ward", "former_district",
        "location", "evidence", "knowledge", "witnesses", "reported_before", "reported_before_details",
        "retaliation_risk", "protection_requested",
    )  # fmt: skip
    IDENTITY_FIELDS = ("full_name", "address", "id_number", "contact", "consent_contact", "truthful")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ward.choices = _blank(_l("Choose a ward or commune (optional)")) + taxonomy.ward_choices()

    def validate_website(self, field: Field) -> None:
        if field.data:
            raise ValidationError(_l("This field must stay empty. If your browser filled it in, clear it."))

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        identity_given = any(self[name].data for name in ("full_name", "address", "id_number", "contact"))
        if self.report_type.data in taxonomy.IDENTIFIED_TYPES:
            for name in ("full_name", "contact", "truthful"):
                if not self[name].data:
                    self[name].errors.append(str(_REQUIRED_FOR_IDENTIFIED))
                    valid = False
        elif self.report_type.data == "THONG_TIN_TO_CAO" and identity_given:
            # Never seal a name into a report the person believes is anonymous.
            self.full_name.errors.append(
                str(
                    _l(
                        "You chose an anonymous report but filled in details about yourself. Clear them, "
                        "or choose a report with your name."
                    )
                )
            )
            valid = False
        return valid

    def report_document(self) -> dict[str, Any]:
        return {"schema": REPORT_SCHEMA, **{name: self[name].data for name in self.REPORT_FIELDS}}

    def identity_document(self) -> dict[str, Any] | None:
        """None unless the person gave something that identifies them."""
        document = {name: self[name].data for name in self.IDENTITY_FIELDS}
        if not any(document[name] for name in ("full_name", "address", "id_number", "contact")):
            return None
        return document


def describe(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) pairs of the answered fields, in form order, with codes turned into labels."""
    rows: list[tuple[str, str]] = []
    for name, (label, choices) in _field_texts(str(get_locale())).items():
        value = document.get(name)
        if value in (None, "", [], False):
            continue
        rows.append((label, _display(value, choices)))
    return rows


@cache
def _field_texts(locale: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Each report field's label and choice labels in one language, from one form, once per process."""
    form = ReportForm(meta={"csrf": False}, formdata=None)
    return {
        name: (
            str(form[name].label.text),
            {choice.value: str(choice.label) for choice in getattr(form[name], "choices", None) or []},
        )
        for name in ReportForm.REPORT_FIELDS
    }


def _display(value: Any, choices: dict[str, str]) -> str:
    if isinstance(value, bool):
        return str(_l("Yes"))
    if choices:
        codes = value if isinstance(value, list) else [value]
        return "; ".join(choices.get(code, code) for code in codes)
    return str(value)
