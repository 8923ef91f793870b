"""WSGI entry points: `wsgi:citizen` and `wsgi:reviewer`.

Each app is built only when asked for, so `flask --app wsgi:reviewer keys init` works before the
citizen portal has the public key it needs, and each gunicorn instance builds only its own app.
"""

from __future__ import annotations

from functools import cache

from flask import Flask

from portal import create_citizen_app, create_reviewer_app

_FACTORIES = {"citizen": create_citizen_app, "reviewer": create_reviewer_app}


@cache
def __getattr__(name: str) -> Flask:
    if name not in _FACTORIES:
        raise AttributeError(name)
    return _FACTORIES[name]()
