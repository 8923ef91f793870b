"""Languages: Vietnamese by default whatever the browser asks, English by choice.

Tor Browser asks for English everywhere, so Accept-Language is ignored; the language travels in
the URL (/vi/..., /en/...), which works without JavaScript and without a cookie.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, Flask, current_app, g, request, url_for
from flask_babel import Babel, format_date, format_datetime, format_decimal

from portal.workdays import VIETNAM_TZ

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}

babel = Babel()


def current_language() -> str:
    """The language of the URL; error pages for unknown paths under /en/ are in English too."""
    if "lang" in g:
        return g.lang
    prefix = request.path.strip("/").split("/", 1)[0] if request else ""
    return prefix if prefix in LANGUAGES else DEFAULT_LANGUAGE


def language_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint whose every URL starts with the language: /vi/... or /en/..."""
    blueprint = Blueprint(name, import_name, url_prefix=f"/<any({', '.join(LANGUAGES)}):lang>")

    @blueprint.url_value_preprocessor
    def _pull_language(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        g.lang = (values or {}).pop("lang", DEFAULT_LANGUAGE)

    @blueprint.url_defaults
    def _add_language(_endpoint: str, values: dict[str, Any]) -> None:
        values.setdefault("lang", current_language())

    return blueprint


HOME_ENDPOINTS = ("citizen.index", "reviewer.home")


def home_url(lang: str | None = None) -> str:
    for endpoint in HOME_ENDPOINTS:
        if endpoint in current_app.view_functions:
            return url_for(endpoint, lang=lang or current_language())
    return "/"


def other_language_url(lang: str) -> str:
    """The same page in another language where it can be fetched again, else that language's home."""
    rule = request.url_rule
    if rule is not None and "lang" in rule.arguments and "GET" in (rule.methods or ()):
        # flat=False keeps every value of a repeated parameter (the queue's several flags).
        values = {**(request.view_args or {}), **request.args.to_dict(flat=False), "lang": lang}
        return url_for(request.endpoint or "", **values)
    return home_url(lang)


# Vietnamese administrative style writes "ngày 22 tháng 11 năm 2026".
DATE_PATTERNS = {"vi": "'ngày' d 'tháng' M 'năm' y", "en": "d MMMM y"}


def long_date(day: date) -> str:
    return format_date(day, DATE_PATTERNS[current_language()])


def short_date(day: date) -> str:
    return format_date(day, "dd/MM/yyyy")


def date_time(moment: datetime) -> str:
    """A stored naive-UTC moment shown in Hanoi time, for inspectors' records (never a reporter's)."""
    return format_datetime(moment.replace(tzinfo=UTC).astimezone(VIETNAM_TZ), "dd/MM/yyyy HH:mm", rebase=False)


def number(value: float, digits: int = 0) -> str:
    """A count or a measure in the page's number format: "12.345" and "4,5" in Vietnamese."""
    return format_decimal(value, "#,##0" + ("." + "0" * digits if digits else ""))


def file_size(size: int) -> str:
    """A size as people read it, in the page's number format: "850 KB", "1,5 MB" in Vietnamese."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{format_decimal(size / scale, '#,##0.#')} {unit}"
    return f"{size} B"


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=current_language, default_locale=DEFAULT_LANGUAGE)
    app.jinja_env.filters["long_date"] = long_date
    app.jinja_env.filters["short_date"] = short_date
    app.jinja_env.filters["date_time"] = date_time
    app.jinja_env.filters["file_size"] = file_size
    app.jinja_env.filters["number"] = number
    app.jinja_env.globals.update(
        current_language=current_language,
        home_url=home_url,
        other_language_url=other_language_url,
        LANGUAGE_NAMES=LANGUAGE_NAMES,
    )
