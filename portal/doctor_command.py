"""`flask --app wsgi:citizen doctor` and `flask --app wsgi:reviewer doctor`: the self-check as a command.

One line per finding and exit status 1 when any is a problem, so a systemd ExecStartPre= or a
monitoring script can use it. The command must work precisely when the app refuses to start (a
missing secret in production): Flask's command line then gets `create_refused_app` instead (see
wsgi.py), an app that has only this command and that names the refusal for any other.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from portal import doctor
from portal.settings import INSTANCE_DIR, PROJECT_ROOT, AppKind, ConfigurationError


@click.command("doctor", help="Check this app's deployment: one line per finding; exit status 1 on any problem.")
@click.option(
    "--env-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The service's environment file (e.g. /etc/portal/citizen.env): its mode is checked and its values are "
    "used on top of this process's environment, as systemd's EnvironmentFile= does.",
)
@click.option(
    "--gunicorn-config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The gunicorn config file the service runs with [default: config/gunicorn/<app>.py].",
)
@with_appcontext
def doctor_command(env_file: Path | None, gunicorn_config: Path | None) -> None:
    kind: AppKind = current_app.config["APP_KIND"]
    findings: list[doctor.Finding] = []
    if env_file is not None:
        values, findings = doctor.read_env_file(env_file)
        # The gunicorn config file reads the process environment itself, as it will when the service starts.
        os.environ.update(values)
    deployment = doctor.Deployment(
        kind=kind,
        env=dict(os.environ),
        project_root=PROJECT_ROOT,
        instance_dir=INSTANCE_DIR,
        gunicorn_config=gunicorn_config or PROJECT_ROOT / "config" / "gunicorn" / f"{kind}.py",
        env_file=env_file,
        app_debug=current_app.debug,
    )
    findings += doctor.examine(deployment)
    for finding in findings:
        click.echo(finding.line())
    click.echo(doctor.summary(findings))
    if any(finding.level is doctor.Level.PROBLEM for finding in findings):
        click.get_current_context().exit(1)


class _OnlyDoctor(AppGroup):
    """The commands of an app whose settings were refused: `doctor`, and for any other, the reason."""

    def __init__(self, kind: AppKind, error: ConfigurationError) -> None:
        super().__init__(kind)
        self.kind = kind
        self.error = error

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [doctor_command.name or "doctor"]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == doctor_command.name:
            return doctor_command
        raise click.ClickException(
            f"the {self.kind} app refuses to start: {self.error}\n"
            f"Run `flask --app wsgi:{self.kind} doctor` to see everything that needs fixing."
        )


def create_refused_app(kind: AppKind, error: ConfigurationError) -> Flask:
    """What Flask's command line loads when the settings are refused: it can diagnose, and nothing else."""
    app = Flask("portal")
    app.config["APP_KIND"] = kind
    app.cli = _OnlyDoctor(kind, error)
    return app


def init_app(app: Flask) -> None:
    app.cli.add_command(doctor_command)
