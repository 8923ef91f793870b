"""Helpers for reviewer-app tests: an intake key on record, staff accounts, logging in as a person would."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace

import pyotp
from flask import Flask
from flask.testing import FlaskClient

from crypto.keyring import Keyring
from crypto.keys import KeyPair, key_id
from crypto.wrapping import TESTING, wrap_with_passphrase
from portal import accounts, totp
from portal.accounts import Role
from portal.models import Inspector, IntakeKey
from portal.workdays import today
from tests.helpers import CSRF_PATTERN

RECOVERY_PASSPHRASE = "ABCDE-FGHJK-MNPQR-STVWX-YZ012-34567-89ABC"
PASSWORD = "a long enough password 1"


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    password: str
    totp_secret: str

    def code(self, offset_steps: int = 0) -> str:
        return pyotp.TOTP(self.totp_secret).at(time.time() + 30 * offset_steps)


def clear_of_a_step_change(margin: float = 3.0) -> None:
    """Wait out the next TOTP step change if it is near, so a code for the previous step (one step of
    clock drift) is still inside the accepted window when the server checks it."""
    left = 30 - time.time() % 30
    if left < margin:
        time.sleep(left + 0.05)


def record_intake_key(app: Flask, keys: KeyPair) -> None:
    with app.extensions["portal_db"].transaction() as session:
        if session.get(IntakeKey, key_id(keys.public)) is None:
            session.add(
                IntakeKey(
                    id=key_id(keys.public),
                    public_key=keys.public,
                    recovery_wrapped_private_key=wrap_with_passphrase(keys.private, RECOVERY_PASSPHRASE, TESTING),
                    created_on=today(),
                    active=True,
                )
            )


def make_person(app: Flask, keys: KeyPair, username: str, role: Role, *, enrolled: bool = True) -> Person:
    """An account as it is after its first login (enrolled) or as an admin just created it. A new account has
    no authenticator key anyone knows yet: its Person's `totp_secret` is empty until `with_setup_key`."""
    account = accounts.new_account(
        username=username,
        display_name=f"Thanh tra {username}",
        role=role,
        keyring=Keyring({key_id(keys.public): keys}),
        cost=TESTING,
        app_secret_key=app.config["SECRET_KEY"],
    )
    password, secret = account.one_time_password, ""
    if enrolled:
        password, secret = PASSWORD, totp.new_secret()
        accounts.password_secrets(password, Keyring({key_id(keys.public): keys}), TESTING).apply_to(account.inspector)
        account.inspector.encrypted_totp_secret = totp.encrypt_secret(secret, app.config["SECRET_KEY"])
        account.inspector.totp_enrolled = True
    with app.extensions["portal_db"].transaction() as session:
        session.add(account.inspector)
        session.flush()
        person_id = account.inspector.id
    return Person(person_id, username, password, secret)


SETUP_KEY_PATTERN = re.compile(r'<code class="secret">([A-Z2-7 ]+)</code>')


def with_setup_key(client: FlaskClient, person: Person, lang: str = "vi") -> Person:
    """The person with the authenticator key their setup page shows them (made at their first login)."""
    match = SETUP_KEY_PATTERN.search(client.get(f"/{lang}/setup").get_data(as_text=True))
    assert match, "no authenticator key on the setup page"
    return replace(person, totp_secret=match.group(1).replace(" ", ""))


def log_in(client: FlaskClient, person: Person, code: str | None = None, lang: str = "vi") -> object:
    token = csrf(client, f"/{lang}/login")
    data = {"csrf_token": token, "username": person.username, "password": person.password}
    data["code"] = person.code() if code is None else code
    return client.post(f"/{lang}/login", data=data)


def csrf(client: FlaskClient, path: str) -> str:
    match = CSRF_PATTERN.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def inspector_row(app: Flask, username: str) -> Inspector:
    with app.extensions["portal_db"].session() as session:
        return session.query(Inspector).filter_by(username=username).one()


def expected_state(html: str) -> str:
    match = re.search(r'name="expected_state" type="hidden" value="([^"]+)"', html)
    assert match, "no expected_state on the page"
    return match.group(1)
