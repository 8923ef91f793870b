"""Error pages: say what happened and what to do, in the user's language, and leak nothing."""

from __future__ import annotations

from flask import Flask, current_app, render_template
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

MESSAGES: dict[int, tuple[LazyString, LazyString]] = {
    400: (_l("The request could not be understood"), _l("Go back, check what you entered and try again.")),
    403: (_l("Not allowed"), _l("You do not have permission to open this page.")),
    404: (_l("Page not found"), _l("Check the address, or start again from the home page.")),
    405: (_l("This action is not possible here"), _l("Start again from the home page.")),
    413: (
        _l("What you sent is too large"),
        _l("Shorten the text or send fewer or smaller files, then try again."),
    ),
    429: (
        _l("Too many attempts"),
        _l("For everyone's safety, attempts are limited. Wait a few minutes, then try again."),
    ),
    500: (
        _l("Something went wrong on our side"),
        _l("Nothing you sent was saved. Please try again later."),
    ),
    503: (
        _l("The service is temporarily unavailable"),
        _l("Nothing was saved. Please try again in a few minutes; your text is not lost if you go back."),
    ),
}
CSRF_MESSAGE = (
    _l("This page has expired"),
    _l("For your safety, forms expire after a while. Open the page again and repeat what you were doing."),
)


def render_error(code: int, title: LazyString | None = None, advice: LazyString | None = None) -> tuple[str, int]:
    default_title, default_advice = MESSAGES.get(code, MESSAGES[500])
    page = render_template(
        "errors/error.html", code=code, title=title or default_title, advice=advice or default_advice
    )
    return page, code


def _http_error(error: HTTPException) -> tuple[str, int]:
    """Also receives unhandled exceptions, as a 500 that Flask has already logged."""
    return render_error(error.code or 500)


def _csrf_error(_error: CSRFError) -> tuple[str, int]:
    return render_error(400, *CSRF_MESSAGE)


def _database_unavailable(error: Exception) -> tuple[str, int]:
    # The engine hides statement parameters, so this log line carries no report data.
    current_app.logger.error("database unavailable: %s", type(error).__name__)
    return render_error(503)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(InterfaceError, _database_unavailable)
