"""WSGI entry points: `wsgi:citizen` and `wsgi:reviewer`.

Each app is built only when asked for, so `flask --app wsgi:reviewer keys init` works before the
citizen portal has the public key it needs, and each gunicorn instance builds only its own app.

An app whose settings are refused (a missing secret in production) never serves: gunicorn, `flask run`
and `flask shell` stop with the reason. Only when Flask's command line builds the app to look up one of
its commands does it get an app that can run `doctor`, which reports the refusal with everything else
that is wrong, and that names the refusal for any other command.
"""

from __future__ import annotations

from functools import cache

import click
from flask import Flask
from flask.cli import FlaskGroup

from portal import create_citizen_app, create_reviewer_app
from portal.doctor_command import create_refused_app
from portal.settings import ConfigurationError

_FACTORIES = {"citizen": create_citizen_app, "reviewer": create_reviewer_app}


@cache
def __getattr__(name: str) -> Flask:
    if name not in _FACTORIES:
        raise AttributeError(name)
    try:
        return _FACTORIES[name]()
    except ConfigurationError as error:
        if not _looking_up_a_command():
            raise
        return create_refused_app(name, error)  # type: ignore[arg-type]


def _looking_up_a_command() -> bool:
    """True while `flask --app wsgi:<name> <command>` loads the app to find the command it names."""
    context = click.get_current_context(silent=True)
    return context is not None and isinstance(context.command, FlaskGroup)
