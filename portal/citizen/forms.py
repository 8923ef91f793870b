"""The reporter's forms after filing: typing the receipt, sending a message."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField
from wtforms.validators import DataRequired, InputRequired, Length

from portal.forms import PortalForm, TextBlock, TextLine, WithEvidence

RECEIPT_INPUT = {"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}


class LookupForm(PortalForm):
    receipt = TextLine(
        _l("Receipt code"),
        description=_l("The 20 characters you received when you sent your report, e.g. ABCD-2345-EFGH-6789-JKMN."),
        validators=[
            DataRequired(message=_l("Enter your receipt code.")),
            Length(max=64, message=_l("A receipt code has 20 characters; this is far too long.")),
        ],
        render_kw=RECEIPT_INPUT,
    )


class ReceiptForm(PortalForm):
    # Carried in the page (never a cookie) so the reporter need not retype it; pages are no-store.
    receipt = HiddenField(validators=[InputRequired(), Length(max=64)])


class MessageForm(WithEvidence, ReceiptForm):
    text = TextBlock(
        _l("Your message or additional information"),
        validators=[
            DataRequired(message=_l("Write your message before sending it.")),
            Length(max=10000, message=_l("This text is too long: at most %(max)d characters.")),
        ],
    )
