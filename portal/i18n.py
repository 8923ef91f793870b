"""Languages: Vietnamese by default whatever the browser asks, English by choice.

Tor Browser asks for English everywhere, so Accept-Language is ignored; the language travels in
the URL (/vi/..., /en/...), which works without JavaScript and without a cookie.
"""

from __future__ import annotations

from datetime import date

from flask import Flask, current_app, g, request, url_for
from flask_babel import Babel, format_date

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


def home_url(lang: str | None = None) -> str:
    if "citizen.index" in current_app.view_functions:
        return url_for("citizen.index", lang=lang or current_language())
    return "/"


def other_language_url(lang: str) -> str:
    """The same page in another language where it can be fetched again, else that language's home."""
    rule = request.url_rule
    if request.blueprint == "citizen" and rule is not None and "GET" in (rule.methods or ()):
        return url_for(request.endpoint or "citizen.index", **{**(request.view_args or {}), "lang": lang})
    return home_url(lang)


# Vietnamese administrative style writes "ngày 22 tháng 11 năm 2026".
DATE_PATTERNS = {"vi": "'ngày' d 'tháng' M 'năm' y", "en": "d MMMM y"}


def long_date(day: date) -> str:
    return format_date(day, DATE_PATTERNS[current_language()])


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=current_language, default_locale=DEFAULT_LANGUAGE)
    app.jinja_env.filters["long_date"] = long_date
    app.jinja_env.globals.update(
        current_language=current_language,
        home_url=home_url,
        other_language_url=other_language_url,
        LANGUAGE_NAMES=LANGUAGE_NAMES,
    )
