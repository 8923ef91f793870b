"""Reviewer CLI: the intake key pair is made once, stored only wrapped, printed once."""

from __future__ import annotations

import json

from flask import Flask
from sqlalchemy import select

from crypto.keys import key_id, parse_public_key_b64
from crypto.wrapping import unwrap_with_passphrase
from portal.models import IntakeKey
from nacl.public import PrivateKey


def test_keys_init_stores_the_private_key_only_wrapped(reviewer_app: Flask) -> None:
    result = reviewer_app.test_cli_runner().invoke(args=["keys", "init", "--json"])
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    public = parse_public_key_b64(created["public_key"])
    assert created["key_id"] == key_id(public)
    with reviewer_app.extensions["portal_db"].session() as session:
        stored = session.scalars(select(IntakeKey)).one()
    private = unwrap_with_passphrase(stored.recovery_wrapped_private_key, created["recovery_passphrase"])
    assert bytes(PrivateKey(private).public_key) == public == stored.public_key
    assert private not in stored.recovery_wrapped_private_key


def test_keys_init_never_replaces_an_existing_key(reviewer_app: Flask) -> None:
    runner = reviewer_app.test_cli_runner()
    assert runner.invoke(args=["keys", "init"]).exit_code == 0
    second = runner.invoke(args=["keys", "init", "--json"])
    assert second.exit_code != 0
    assert "already exists" in second.output


def test_keys_init_prints_the_public_key_and_passphrase_for_people(reviewer_app: Flask) -> None:
    result = reviewer_app.test_cli_runner().invoke(args=["keys", "init"])
    assert "INTAKE_PUBLIC_KEY=" in result.output
    assert "Recovery passphrase" in result.output


def test_db_upgrade_is_idempotent(reviewer_app: Flask) -> None:
    result = reviewer_app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0 and "up to date" in result.output
