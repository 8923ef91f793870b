"""gunicorn settings for benchmark EXPERIMENTS only: config/gunicorn/citizen.py plus patches that
citizen_load.py asks for through the environment. Never a production setting.

BENCH_SQLITE_SYNCHRONOUS=NORMAL|OFF  re-issues `PRAGMA synchronous=...` on every new SQLite
    connection, after the app's own `synchronous=FULL`, to measure what the per-commit fsync costs.
BENCH_SERIALIZE_SQLITE_WRITES=1  queues each worker's SQLite write transactions on a threading.Lock
    (see post_worker_init), to measure what polling for SQLite's write lock costs.

Not a pytest module (name and content); gunicorn executes it as a config file.
"""

import os
from pathlib import Path

_CITIZEN = Path(__file__).resolve().parents[2] / "config" / "gunicorn" / "citizen.py"
exec(compile(_CITIZEN.read_text(), str(_CITIZEN), "exec"))  # noqa: S102 - the shipped settings, unchanged


def post_fork(server, worker):  # noqa: ARG001 - gunicorn hook signature
    synchronous = os.environ.get("BENCH_SQLITE_SYNCHRONOUS")
    if not synchronous:
        return
    from sqlalchemy import event

    import portal.db

    original = portal.db.make_engine

    def make_engine(url):
        engine = original(url)
        if engine.dialect.name == "sqlite":

            @event.listens_for(engine, "connect")
            def _synchronous(dbapi_connection, _record):
                cursor = dbapi_connection.cursor()
                cursor.execute(f"PRAGMA synchronous={synchronous}")
                cursor.close()

        return engine

    portal.db.make_engine = make_engine
    worker.log.warning("benchmark experiment: SQLite PRAGMA synchronous=%s", synchronous)


def post_worker_init(worker):
    """BENCH_SERIALIZE_SQLITE_WRITES=1: one write transaction at a time per worker process, queued on a
    threading.Lock, so a worker's threads no longer poll SQLite's write lock (busy_timeout sleeps)
    against each other; only the worker processes still contend for it."""
    if os.environ.get("BENCH_SERIALIZE_SQLITE_WRITES") != "1":
        return
    import contextlib
    import threading

    import portal.db

    original = portal.db.Database.transaction
    lock = threading.Lock()

    @contextlib.contextmanager
    def transaction(self):
        if not self.is_sqlite:
            with original(self) as session:
                yield session
            return
        with lock, original(self) as session:
            yield session

    portal.db.Database.transaction = transaction
    worker.log.warning("benchmark experiment: SQLite write transactions queued on a per-process lock")
