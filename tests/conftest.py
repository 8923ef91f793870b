"""Shared fixtures: a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set),
demo keys with a cheap KDF, the citizen app, and a guard against any outbound connection."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from crypto.keys import KeyPair, generate_keypair, public_key_b64
from portal import create_citizen_app, create_reviewer_app
from portal.db import Database
from portal.migrate import upgrade
from portal.models import Base

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
_LOOPBACK = ("127.", "::1", "localhost")


@pytest.fixture(autouse=True)
def no_outbound_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that tries to reach another host: nothing may load from another origin."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])
            if not host.startswith(_LOOPBACK):
                raise AssertionError(f"outbound network connection attempted to {host}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """A private schema in the test database, migrated once, dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured: set TEST_DATABASE_URL to run the storage tests on it")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    upgrade(url)
    yield url
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every test that stores anything runs on both engines."""
    with migrated_database(request, tmp_path) as url:
        yield url


@contextmanager
def migrated_database(request: pytest.FixtureRequest, directory: Path) -> Iterator[str]:
    """A migrated database of the kind in `request.param` (a new SQLite file in `directory`, or the session's
    PostgreSQL schema), left empty afterwards for the tests that follow. Also for module-scoped fixtures."""
    if request.param == "sqlite":
        url = f"sqlite:///{directory / 'portal.db'}"
        upgrade(url)
        yield url
        return
    url = request.getfixturevalue("postgres_schema_url")
    yield url
    engine = create_engine(url)
    with engine.begin() as connection:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(scope="session")
def intake_keys() -> KeyPair:
    return generate_keypair()


@pytest.fixture
def env(database_url: str, intake_keys: KeyPair) -> dict[str, str]:
    return {
        "PORTAL_ENV": "testing",
        "DATABASE_URL": database_url,
        "INTAKE_PUBLIC_KEY": public_key_b64(intake_keys.public),
        "CITIZEN_SECRET_KEY": "citizen-secret-key-for-tests-only-0123456789",
        "REVIEWER_SECRET_KEY": "reviewer-secret-key-for-tests-only-0123456789",
        "AUDIT_KEY": "audit-key-for-tests-only-0123456789abcdefghij",
        "RECEIPT_PEPPER": "receipt-pepper-for-tests-only-0123456789abcdef",
        "COOKIE_SECURE": "false",
        "KDF_COST": "testing",
    }


def close_database(app: Flask) -> None:
    """Every session a test opened must have been closed: a leaked connection fails the test."""
    db = app.extensions["portal_db"]
    assert db.engine.pool.checkedout() == 0, "a database connection was left checked out"
    db.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The database on its own, for service tests without an app."""
    database = Database(database_url)
    yield database
    assert database.engine.pool.checkedout() == 0, "a database connection was left checked out"
    database.dispose()


@pytest.fixture
def citizen_app(env: dict[str, str]) -> Iterator[Flask]:
    app = create_citizen_app(env)
    yield app
    close_database(app)


@pytest.fixture
def reviewer_app(env: dict[str, str]) -> Iterator[Flask]:
    app = create_reviewer_app(env)
    yield app
    close_database(app)


@pytest.fixture
def client(citizen_app: Flask) -> FlaskClient:
    return citizen_app.test_client()


@pytest.fixture
def staff(reviewer_app: Flask, intake_keys: KeyPair) -> dict[str, Any]:
    """The intake key on record and one enrolled account per role."""
    from portal.accounts import Role
    from tests.reviewer_helpers import make_person, record_intake_key

    record_intake_key(reviewer_app, intake_keys)
    return {role.value: make_person(reviewer_app, intake_keys, f"demo-{role.value}", role) for role in Role}


@pytest.fixture
def reviewer(reviewer_app: Flask) -> FlaskClient:
    return reviewer_app.test_client()
