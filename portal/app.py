"""Application factories: the citizen portal and the reviewer app, built from one package.

They run as separate processes with separate secrets: the citizen app is given only the intake
public key and has no setting or code path that could load a private key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Flask, redirect, url_for
from flask.logging import default_handler
from flask_wtf.csrf import CSRFProtect
from werkzeug.routing import IntegerConverter, Map
from werkzeug.wrappers import Response

from portal import db, doctor_command, errors, health, i18n, ratelimit, security_headers
from portal.forms import MAX_ROW_ID
from portal.settings import INSTANCE_DIR, PROJECT_ROOT, AppKind, load_settings
from portal.uploads import Limits, UploadRequest

csrf = CSRFProtect()
# Flask's log lines carry no time of day: a request's time can be matched to a network log (DESIGN.md 6).
default_handler.setFormatter(logging.Formatter("%(levelname)s in %(module)s: %(message)s"))


class RowIdConverter(IntegerConverter):
    """`<id:...>` in routes: a database row id, so a 20-digit number in an address is a 404, not a 500."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, min=1, max=MAX_ROW_ID)


def _base_app(kind: AppKind, env: Mapping[str, str] | None) -> Flask:
    app = Flask(
        "portal",
        instance_path=str(INSTANCE_DIR),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.request_class = UploadRequest
    app.url_map.converters["id"] = RowIdConverter
    app.config.update(load_settings(kind, env))
    app.config["APP_KIND"] = kind
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.globals["upload_limits"] = Limits.of(app).in_megabytes()
    db.init_app(app)
    i18n.init_app(app)
    csrf.init_app(app)
    security_headers.init_app(app)
    errors.init_app(app)
    app.register_blueprint(health.bp)
    doctor_command.init_app(app)
    return app


def create_citizen_app(env: Mapping[str, str] | None = None) -> Flask:
    from portal.citizen import RATE_LIMITS, bp as citizen_bp

    app = _base_app("citizen", env)
    app.jinja_env.globals["layout"] = "base.html"
    app.register_blueprint(citizen_bp)
    ratelimit.init_app(app, RATE_LIMITS)

    @app.get("/")
    def root() -> Response:
        return redirect(url_for("citizen.index", lang=i18n.DEFAULT_LANGUAGE))

    return app


def create_reviewer_app(env: Mapping[str, str] | None = None) -> Flask:
    from portal.accounts import ROLE_LABELS
    from portal.reviewer import RATE_LIMITS, access, bp as reviewer_bp
    from portal.reviewer.cli import register_commands

    app = _base_app("reviewer", env)
    app.jinja_env.globals.update(layout="reviewer/base.html", role_labels=ROLE_LABELS)
    app.register_blueprint(reviewer_bp)
    access.init_app(app)
    register_commands(app)
    ratelimit.init_app(app, RATE_LIMITS)

    @app.get("/")
    def root() -> Response:
        return redirect(url_for("reviewer.home", lang=i18n.DEFAULT_LANGUAGE))

    return app
