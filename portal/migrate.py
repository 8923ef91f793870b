"""Schema changes go through Alembic migrations only, from the first table on."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # A literal "%" in a URL (an encoded password) would otherwise be read as interpolation.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def revisions() -> list[str]:
    """Every revision this code knows, oldest first: the migrations form one line, no branches."""
    return [script.revision for script in reversed(list(ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()))]


def current_revision(connection: Connection) -> str | None:
    """The revision a database is at, read on the caller's connection (inside its transaction, if any);
    None for a database that was never migrated."""
    return MigrationContext.configure(connection).get_current_revision()
