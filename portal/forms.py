"""Form building blocks shared by both apps: clean text fields and translated WTForms messages."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from flask import current_app
from flask_babel import get_translations, lazy_gettext as _l, lazy_ngettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, MultipleFileField, SelectMultipleField, StringField, TextAreaField, ValidationError
from werkzeug.datastructures import FileStorage
from wtforms.widgets import CheckboxInput, ListWidget

from portal.attachments import CannotClean
from portal.settings import MIB
from portal.uploads import Limits, Upload, uploads_in

# Control characters (NUL included) have no place in a report; line breaks and tabs do in text blocks.
# U+FFFD is what undecodable bytes become: a browser never sends them, so the input is malformed.
_CONTROL_IN_LINE = re.compile(r"[\x00-\x1f\x7f\ufffd]")
_CONTROL_IN_BLOCK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_INVALID_CHARACTERS = _l("This text contains characters that cannot be accepted (control characters).")

# WTForms' own messages that a tampered request can reach; listed so the catalogs translate them.
WTFORMS_MESSAGES = (
    _l("Not a valid choice."),
    lazy_ngettext(
        "'%(value)s' is not a valid choice for this field.", "'%(value)s' are not valid choices for this field.", 1
    ),
    _l("This field is required."),
    lazy_ngettext(
        "Field cannot be longer than %(max)d character.", "Field cannot be longer than %(max)d characters.", 1
    ),
)


# The largest id a row can have on both engines (a 32-bit integer on PostgreSQL).
MAX_ROW_ID = 2**31 - 1


def row_id(text: str | None) -> int | None:
    """A row id typed in a form or an address: plain digits within the databases' range, else None."""
    if not text or not text.isascii() or not text.isdecimal() or len(text) > 10:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ROW_ID else None


class _BabelTranslations:
    """Routes WTForms' built-in messages through this project's catalogs (WTForms has no Vietnamese)."""

    # Not flask_babel.gettext: it would %-format the string before WTForms fills in its own values.
    def gettext(self, string: str) -> str:
        return get_translations().ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return get_translations().ungettext(singular, plural, n)


class PortalForm(FlaskForm):
    class Meta:
        def get_translations(self, form: Any) -> _BabelTranslations:
            return _BabelTranslations()


class _CleanText:
    """NFC-normalised, trimmed text that refuses control characters instead of storing them."""

    control_pattern: re.Pattern[str] = _CONTROL_IN_LINE

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)  # type: ignore[misc]
        if isinstance(self.data, str):  # type: ignore[attr-defined]
            text = self.data.replace("\r\n", "\n").replace("\r", "\n")  # type: ignore[attr-defined]
            self.data = unicodedata.normalize("NFC", text).strip()

    def pre_validate(self, form: Any) -> None:
        if self.data and self.control_pattern.search(self.data):  # type: ignore[attr-defined]
            raise ValidationError(str(_INVALID_CHARACTERS))


class TextLine(_CleanText, StringField):
    pass


class TextBlock(_CleanText, TextAreaField):
    control_pattern = _CONTROL_IN_BLOCK


class MultiCheckboxField(SelectMultipleField):
    """Several choices as checkboxes: usable without JavaScript, unlike a multi-select box."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


_FILE_TOO_LARGE = _l("“%(name)s” is larger than %(limit)d MB, the limit for one file, so it was not sent.")
_SUBMISSION_TOO_LARGE = _l(
    "“%(name)s” was not sent: together, the files are larger than %(limit)d MB, the limit for one sending. "
    "Send the rest with a message after this one."
)


_NOT_FILES = _l("Choose your files with the file button.")
_CANNOT_CLEAN = _l(
    "“%(name)s” looks like a photo or a PDF but is damaged, so its hidden information could not be removed. "
    "Send another copy, or tick the box to send your files exactly as they are."
)


def cannot_clean_message(error: CannotClean) -> str:
    return str(_CANNOT_CLEAN % {"name": error.name})


class EvidenceField(MultipleFileField):
    """Several files of any type; a file past a limit is named in an error, never silently dropped."""

    @property
    def uploads(self) -> list[Upload]:
        return uploads_in(self.name, self.data or [])

    def pre_validate(self, form: Any) -> None:
        if any(not isinstance(value, FileStorage) for value in self.data or []):
            raise ValidationError(str(_NOT_FILES))  # only a tampered request sends text here
        limits = Limits.of(current_app)
        for upload in self.uploads:
            if upload.spool.over_limit == "file":
                self.errors.append(_FILE_TOO_LARGE % {"name": upload.name, "limit": limits.file_bytes // MIB})
            elif upload.spool.over_limit == "submission":
                self.errors.append(
                    _SUBMISSION_TOO_LARGE % {"name": upload.name, "limit": limits.submission_bytes // MIB}
                )


class WithEvidence:
    """The file field and the "keep the original" choice, for every form that can carry files."""

    files = EvidenceField(
        _l("Files (optional)"),
        description=_l(
            "Photos, documents, recordings: any type, up to %(file)d MB each and %(total)d MB in all. They are "
            "encrypted as they arrive."
        ),
    )
    keep_original = BooleanField(
        _l("Send my files exactly as they are, with their hidden information"),
        description=_l(
            "Photos (JPEG, PNG) and PDF files often hide who made them: the place a photo was taken, the phone or "
            "camera, the author's name. We remove this before your files are stored, without changing the picture "
            "or the document. Tick this box only if that information is itself evidence. Other files (Word, Excel, "
            "videos, recordings) are not cleaned: check them yourself before sending."
        ),
    )
