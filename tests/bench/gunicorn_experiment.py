"""gunicorn settings for benchmark EXPERIMENTS only: config/gunicorn/citizen.py plus patches that
citizen_load.py asks for through the environment. Never a production setting.

BENCH_SQLITE_SYNCHRONOUS=NORMAL|OFF  re-issues `PRAGMA synchronous=...` on every new SQLite
    connection, after the app's own `synchronous=FULL`, to measure what the per-commit fsync costs.

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
