"""GET /healthz, as a monitoring probe (and anyone else) sees it on both apps.

What this proves: `ok` with 200 while the database answers and `unavailable` with 503 once it does
not, and nothing more in either body (no reason, no version, no time, no host); no cookie, no cache,
no language redirect, no rate limit; no login needed on the reviewer app, whose other routes stay
closed (tests/reviewer/test_access.py walks them all).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from portal import create_citizen_app, create_reviewer_app
from tests.conftest import close_database
from tests.faults import running_private_postgres

FACTORIES: dict[str, Callable[[Mapping[str, str]], Flask]] = {
    "citizen": create_citizen_app,
    "reviewer": create_reviewer_app,
}


def probe(app: Flask) -> TestResponse:
    response = app.test_client().get("/healthz")
    response.close()
    return response


def assert_says_only(response: TestResponse, status: int, body: bytes) -> None:
    assert response.status_code == status
    assert response.data == body
    assert response.mimetype == "text/plain"
    assert "no-store" in response.headers["Cache-Control"]
    assert "Set-Cookie" not in response.headers
    assert "Location" not in response.headers


@pytest.mark.parametrize("kind", ["citizen", "reviewer"])
def test_healthz_says_ok_while_the_database_answers(kind: str, env: dict[str, str]) -> None:
    app = FACTORIES[kind](env)
    assert_says_only(probe(app), 200, b"ok")
    close_database(app)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("kind", ["citizen", "reviewer"])
def test_healthz_is_unavailable_when_the_sqlite_file_cannot_be_opened(
    kind: str, env: dict[str, str], tmp_path: Path
) -> None:
    """A database path that is a folder, and one below a plain file: SQLite and the file system refuse both."""
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    for url in (f"sqlite:///{tmp_path}", f"sqlite:///{blocker}/portal.db"):
        app = FACTORIES[kind]({**env, "DATABASE_URL": url})
        assert_says_only(probe(app), 503, b"unavailable")
        app.extensions["portal_db"].dispose()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["citizen", "reviewer"])
def test_healthz_turns_unavailable_when_postgresql_stops_and_ok_when_it_is_back(kind: str, env: dict[str, str]) -> None:
    with running_private_postgres() as server:
        app = FACTORIES[kind]({**env, "DATABASE_URL": server.url})
        assert_says_only(probe(app), 200, b"ok")
        server.crash()
        assert_says_only(probe(app), 503, b"unavailable")
        server.start()
        assert_says_only(probe(app), 200, b"ok")
        close_database(app)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_probes_are_never_rate_limited(env: dict[str, str]) -> None:
    """Limits of one request per minute on every limited route; a hundred probes still get their answer."""
    strict = {name: "1 per minute" for name in ("RATELIMIT_SUBMIT", "RATELIMIT_LOOKUP", "RATELIMIT_LOGIN")}
    for factory in FACTORIES.values():
        app = factory({**env, **strict})
        client = app.test_client()
        statuses = {client.get("/healthz").status_code for _ in range(100)}
        assert statuses == {200}
        close_database(app)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_reviewer_app_answers_healthz_without_login_and_nothing_else(env: dict[str, str]) -> None:
    app = create_reviewer_app(env)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    # The same anonymous client is still sent to the login page everywhere else.
    for path in ("/vi/cases", "/vi/admin/accounts", "/en/statistics"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/login"), path
    assert client.post("/healthz").status_code == 405
    close_database(app)
