"""Both languages are complete: every message in the sources has a non-fuzzy translation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("vi", "en")


def catalog(lang: str):  # type: ignore[no-untyped-def]
    with open(ROOT / "portal" / "translations" / lang / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle)


@pytest.fixture(scope="module")
def source_ids(tmp_path_factory: pytest.TempPathFactory) -> set[object]:
    template = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "config/babel.cfg", "-k", "_l",
         "-k", "lazy_ngettext:1,2", "--no-location", "-o", str(template), "."],
        check=True, cwd=ROOT, capture_output=True,
    )  # fmt: skip
    with open(template, "rb") as handle:
        return {message.id for message in read_po(handle) if message.id}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_source_message_is_translated(lang: str, source_ids: set[object]) -> None:
    translated = {
        message.id
        for message in catalog(lang)
        if message.id
        and not message.fuzzy
        and all(message.string if isinstance(message.string, tuple) else [message.string])
    }
    missing = source_ids - translated
    assert not missing, (
        f"{lang}: untranslated or fuzzy (run scripts/catalogs.py, then translate): {sorted(map(str, missing))[:10]}"
    )


def test_vietnamese_keeps_every_placeholder() -> None:
    placeholder = re.compile(r"%\(\w+\)[sd]")
    for message in catalog("vi"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert set(placeholder.findall(ids[0])) == set(placeholder.findall(strings[0])), message.id


# What WTForms says, in English, when a validator has no message of ours (wtforms/validators.py).
WTFORMS_DEFAULTS = {
    "InputRequired": "This field is required.",
    "DataRequired": "This field is required.",
    "Length": "Field cannot be longer than %(max)d character.",
    "Regexp": "Invalid input.",
}


def test_every_wtforms_message_a_form_can_show_goes_through_the_catalogs() -> None:
    """WTForms has no Vietnamese: any of its own messages our forms can reach must be one we translate."""
    from wtforms.fields.core import UnboundField

    from portal import reports
    from portal.citizen import forms as citizen_forms
    from portal.forms import WTFORMS_MESSAGES, PortalForm
    from portal.reviewer import forms as reviewer_forms

    listed = {str(message._args[0]) for message in WTFORMS_MESSAGES}
    modules = (reports, citizen_forms, reviewer_forms)
    form_classes = {
        value for module in modules for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, PortalForm)
    }  # fmt: skip
    reached = set()
    for form_class in form_classes:
        for name in dir(form_class):
            field = getattr(form_class, name)
            if not isinstance(field, UnboundField):
                continue
            for validator in field.kwargs.get("validators") or ():
                if getattr(validator, "message", None) is None and type(validator).__name__ != "Optional":
                    reached.add(WTFORMS_DEFAULTS[type(validator).__name__])
    assert reached, "no form was inspected"
    assert reached <= listed, f"WTForms messages not routed through the catalogs: {sorted(reached - listed)}"


def test_the_extractor_reads_every_template_that_has_texts() -> None:
    """Babel gives no message, and no error, for a template it cannot parse (an extension missing from
    config/babel.cfg): its texts would then stay in English on Vietnamese pages without failing the test above."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with open(ROOT / "config" / "babel.cfg") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    extracted = {
        filename for filename, *_ in extract_from_dir(ROOT, method_map, options_map) if filename.startswith("templates")
    }
    with_texts = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "templates").rglob("*.*")
        if "_(" in path.read_text(encoding="utf-8")
    }
    assert with_texts, "no template was found"
    assert with_texts <= extracted, f"templates the extractor could not read: {sorted(with_texts - extracted)}"
