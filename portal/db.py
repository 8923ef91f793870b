"""Engines and sessions: one engine per process, one session per request, short write transactions.

SQLite is opened in WAL mode with `synchronous=FULL`, so a commit is on disk before the reporter
sees a receipt. Copying the WAL back into the database (a checkpoint) does not add durability, so it
is not left to the commit that crosses SQLite's threshold: after a request that wrote, it runs once the
response has been sent (a 100 MB upload's checkpoint would otherwise cost its sender 0.14 s), and
outside a request right after the commit. Write transactions on SQLite begin with `BEGIN IMMEDIATE`: they take the write lock
up front and wait for it (busy_timeout) instead of failing half-way with "database is locked".
Engines are created lazily and re-created after a fork, so gunicorn workers never share one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, Response, after_this_request, current_app, g, has_request_context
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session

SQLITE_BUSY_TIMEOUT_MS = 15_000
_IMMEDIATE = "portal_begin_immediate"


class Database:
    """Holds the engine of this process for one database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._pid: int | None = None

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.url).get_backend_name() == "sqlite"

    @property
    def engine(self) -> Engine:
        if self._engine is None or self._pid != os.getpid():
            if self._engine is not None:
                # Inherited through fork: drop the parent's connections without closing them.
                self._engine.dispose(close=False)
            self._engine = make_engine(self.url)
            self._pid = os.getpid()
        return self._engine

    def session(self) -> Session:
        """A session for reads; it never holds a write lock."""
        return Session(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A short write transaction, committed durably on exit or rolled back on any error."""
        session = Session(self.engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False)
        try:
            with session.begin():
                yield session
        finally:
            session.close()
        if self.is_sqlite:
            self._checkpoint_soon()

    def _checkpoint_soon(self) -> None:
        if not has_request_context():
            self.checkpoint()
        elif not g.get("db_checkpoint_due"):
            g.db_checkpoint_due = True

            @after_this_request
            def _after_response(response: Response) -> Response:
                response.call_on_close(self.checkpoint)
                return response

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database file, without waiting for readers (PASSIVE)."""
        connection = self.engine.raw_connection()
        try:
            connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")  # type: ignore[union-attr]
        finally:
            connection.close()

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # Parameters could hold sealed blobs or lookup ids: keep them out of error messages.
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = create_engine(url, hide_parameters=True, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event, not the driver, decide how a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
            "foreign_keys=ON",
            "secure_delete=ON",
            # Checkpoints run after the response instead (Database.checkpoint).
            "wal_autocheckpoint=0",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def init_app(app: Flask) -> None:
    app.extensions["portal_db"] = Database(app.config["DATABASE_URL"])
    app.teardown_appcontext(_close_request_session)


def get_db() -> Database:
    return current_app.extensions["portal_db"]


def request_session() -> Session:
    """The read session of the current request, closed when the request ends."""
    if "db_session" not in g:
        g.db_session = get_db().session()
    return g.db_session


def _close_request_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
