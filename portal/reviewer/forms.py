"""The reviewer app's forms. Every case form carries the state the page was shown in, so an act on
a case that has moved on meanwhile is refused instead of applied to a state nobody saw."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, PasswordField, RadioField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, EqualTo, InputRequired, Length, Optional, Regexp

from portal import taxonomy
from portal.accounts import MAX_PASSWORD_LENGTH, ROLE_LABELS, USERNAME
from portal.forms import MultiCheckboxField, PortalForm, TextBlock, TextLine, WithEvidence
from portal.lifecycle import Extension, State

_TOO_LONG = _l("This text is too long: at most %(max)d characters.")
_CODE_INPUT = {"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}


def _password(label: object, autocomplete: str) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired(message=_l("Enter the password.")),
            Length(max=MAX_PASSWORD_LENGTH, message=_TOO_LONG),
        ],
        render_kw={"autocomplete": autocomplete},
    )


class LoginForm(PortalForm):
    username = TextLine(
        _l("User name"),
        validators=[DataRequired(message=_l("Enter your user name.")), Length(max=64, message=_TOO_LONG)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = _password(_l("Password"), "current-password")
    code = TextLine(
        _l("Six-digit code from your authenticator app"),
        description=_l("Leave empty only at your first login, before you have set up the app."),
        validators=[Length(max=16, message=_TOO_LONG)],
        render_kw=_CODE_INPUT,
    )


class NewPasswordMixin:
    new_password = _password(_l("New password"), "new-password")
    confirm = PasswordField(
        _l("New password again"),
        validators=[EqualTo("new_password", message=_l("The two passwords are not the same."))],
        render_kw={"autocomplete": "new-password"},
    )


class SetupForm(NewPasswordMixin, PortalForm):
    code = TextLine(
        _l("Six-digit code shown by the app"),
        validators=[DataRequired(message=_l("Enter the code shown by the app.")), Length(max=16, message=_TOO_LONG)],
        render_kw=_CODE_INPUT,
    )


class PasswordForm(NewPasswordMixin, PortalForm):
    current_password = _password(_l("Current password"), "current-password")


class CaseForm(PortalForm):
    # The state the page was shown in; anything but a state name is a tampered or broken page.
    expected_state = HiddenField(
        validators=[InputRequired(), AnyOf([str(state) for state in State], message=_l("Open the case again."))]
    )


class ClassificationForm(CaseForm):
    report_type = SelectField(_l("Kind of report"), choices=taxonomy.REPORT_TYPES)
    categories = MultiCheckboxField(_l("Kinds of wrongdoing"), choices=taxonomy.MISCONDUCT)
    sector = SelectField(_l("Sector"), choices=[SelectChoice("", _l("Not set"))] + taxonomy.SECTORS)
    ward_code = SelectField(_l("Ward or commune"), choices=[])
    urgent = BooleanField(_l("Urgent (still going on, or a risk of harm)"))
    protection_requested = BooleanField(_l("Protection requested"))
    complex = BooleanField(_l("Complex"))
    especially_complex = BooleanField(_l("Especially complex"))
    duplicate_of = TextLine(
        _l("Duplicate of case (reference, e.g. 2026-00012)"),
        validators=[Optional(), Regexp(r"^\d{4}-\d{5}$", message=_l("Write a case reference like 2026-00012."))],
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.ward_code.choices = [SelectChoice("", _l("Not set"))] + taxonomy.ward_choices()


class AssignForm(CaseForm):
    assignee = SelectField(_l("Inspector in charge"), choices=[], validate_choice=True)


class TransitionForm(CaseForm):
    text = TextBlock(_l("Reason or text"), validators=[Length(max=10000, message=_TOO_LONG)])
    body = TextLine(_l("Body it goes to"), validators=[Length(max=300, message=_TOO_LONG)])
    extension = RadioField(
        _l("Kind of extension"),
        choices=[
            SelectChoice(str(Extension.COMPLEX), _l("Complex case: once, up to 30 days")),
            SelectChoice(str(Extension.ESPECIALLY_COMPLEX), _l("Especially complex case: up to twice, 30 days each")),
        ],
        validators=[Optional()],
    )


class MessageForm(WithEvidence, CaseForm):
    text = TextBlock(
        _l("Message to the reporter"),
        description=_l("The reporter reads it on their status page with the receipt. Never write names of inspectors."),
        validators=[DataRequired(message=_l("Write the message first.")), Length(max=10000, message=_TOO_LONG)],
    )


class NoteForm(CaseForm):
    text = TextBlock(
        _l("Internal note"),
        description=_l("Seen by inspectors only, never by the reporter."),
        validators=[DataRequired(message=_l("Write the note first.")), Length(max=10000, message=_TOO_LONG)],
    )


class RevealForm(CaseForm):
    reason = TextBlock(
        _l("Why the reporter's identity must be seen"),
        description=_l("Recorded in the case timeline and the audit trail."),
        validators=[
            DataRequired(message=_l("Give the reason.")),
            Length(min=20, message=_l("Give the reason in at least %(min)d characters.")),
            Length(max=2000, message=_TOO_LONG),
        ],
    )


class AccountForm(PortalForm):
    username = TextLine(
        _l("User name"),
        description=_l("Lower-case letters, digits, dot, dash or underscore."),
        validators=[
            DataRequired(message=_l("Enter a user name.")),
            Regexp(
                USERNAME.pattern, message=_l("Use 2 to 64 lower-case letters, digits, dots, dashes or underscores.")
            ),
        ],
        render_kw={"autocapitalize": "none", "spellcheck": "false"},
    )
    display_name = TextLine(
        _l("Full name"),
        validators=[DataRequired(message=_l("Enter the person's name.")), Length(max=128, message=_TOO_LONG)],
    )
    role = RadioField(_l("Role"), choices=[SelectChoice(str(role), label) for role, label in ROLE_LABELS.items()])


class ActionForm(PortalForm):
    """A button that changes something: only the CSRF token."""
