"""`flask --app wsgi:reviewer cases purge [--dry-run]`: delete the ended cases past their retention period.

Meant to run unattended (a daily timer) as well as by hand: it prints one line per case as it goes
and a summary, and a run that stops half-way is finished by the next one (`retention.purge_case`).
What it prints is plaintext the audit trail holds anyway: references, states, dates, file counts.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from portal import retention
from portal.db import get_db
from portal.workdays import today


@click.group("cases", cls=AppGroup, help="Cases past their retention period.")
def cases_group() -> None:
    pass


@cases_group.command(
    "purge",
    help="Delete every ended case past its retention period (RETENTION_YEARS_*) with its messages, notes and "
    "files; each deletion is recorded in the audit trail.",
)
@click.option("--dry-run", is_flag=True, help="Only list the cases that would be deleted; change nothing.")
def cases_purge(dry_run: bool) -> None:
    policy = retention.Policy(current_app.config["RETENTION_YEARS"])
    day = today()
    kept = ", ".join(f"{state} {years} years" for state, years in policy.years.items())
    click.echo(f"Retention: {kept}, from the day the case entered that state. Today is {day.isoformat()}.")
    if dry_run:
        with get_db().session() as session:
            due = retention.due_by(session, policy, day)
        for case in due:
            click.echo(f"would delete {_describe(case)}")
        click.echo(f"{_count(len(due), 'case')} would be deleted; nothing was changed." if due else "No case is due.")
        return

    deleted = left = files = 0
    for result in retention.purge(get_db(), policy, current_app.config["AUDIT_KEY"], day):
        if result.deleted:
            deleted, files = deleted + 1, files + result.files
            click.echo(f"deleted {_describe(result.case)}, {_count(result.files, 'file')}")
        else:
            left += 1
            click.echo(f"left {result.case.reference}: it changed since it was listed (reopened, or now an original)")
    summary = (
        f"Deleted {_count(deleted, 'case')} with {_count(files, 'file')}." if deleted or left else "No case is due."
    )
    click.echo(summary + (f" Left {_count(left, 'case')} that changed meanwhile." if left else ""))
    if get_db().is_sqlite and not retention.empty_sqlite_log(get_db()):
        click.echo("SQLite's write-ahead log was busy and may still hold deleted pages: run the purge again later.")


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}" if number == 1 else f"{number} {thing}s"


def _describe(case: retention.DueCase) -> str:
    return f"{case.reference} ({case.state} since {case.state_since.isoformat()}, due {case.purge_on.isoformat()})"
