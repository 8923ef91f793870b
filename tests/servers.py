"""Run an app for real under gunicorn on a loopback port, for tests that need the whole stack."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def gunicorn(app: str, env: Mapping[str, str], log_path: Path, workers: int = 2) -> Iterator[str]:
    """Serve `wsgi:<app>` with the project's gunicorn config; yields the base URL, always stops it."""
    port = free_port()
    command = [
        str(GUNICORN), "--config", str(ROOT / "config" / "gunicorn" / f"{app}.py"),
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), f"wsgi:{app}",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        yield base
    finally:
        stop(process)


def stop(process: subprocess.Popen[Any]) -> None:
    """Stop a server as systemd would: SIGTERM, then SIGKILL if it has not gone after 20 seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_until_up(base: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            urllib.request.urlopen(base + "/static/css/portal.css", timeout=2).close()
            return
        except OSError:  # refused, reset, or accepted by the master but not yet answered by a worker
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start in time")


@contextmanager
def new_postgres_database(server_url: str, prefix: str) -> Iterator[str]:
    """A database of its own on the PostgreSQL server at `server_url` (an empty machine, as a restore needs),
    dropped afterwards even if a connection is still open."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
