"""Inspector accounts: roles, passwords, and each inspector's wrapped copy of the intake keys.

An account is created by someone who already holds the intake keys (an admin's session, or the
recovery passphrase at the command line): the new inspector's copy is wrapped under a one-time
password that must be changed at first login. Deactivating an account deletes its copy and every
session, so nothing the person could still present opens a report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto import wrapping
from crypto.codes import group, random_code
from crypto.keyring import Keyring, pack_keyring, unpack_keyring
from crypto.keys import generate_keypair
from portal import audit, totp
from portal.db import Database
from portal.models import Inspector, KeyGrant, ReviewerSession


class Role(StrEnum):
    ADMIN = "admin"  # accounts, audit trail, settings; never opens a report
    LEAD = "lead"  # assigns, approves refusals and closures, reveals identities
    INSPECTOR = "inspector"  # works the triage queue and the cases assigned to them


ROLE_LABELS: dict[Role, LazyString] = {
    Role.ADMIN: _l("Administrator"),
    Role.LEAD: _l("Lead"),
    Role.INSPECTOR: _l("Inspector"),
}
CASE_ROLES = frozenset({Role.LEAD, Role.INSPECTOR})

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
_ONE_TIME_PASSWORD_CHARACTERS = 20  # 100 bits, in the receipt alphabet so it reads aloud cleanly


def utcnow() -> datetime:
    """Naive UTC, the form datetimes are stored in on both database engines."""
    return datetime.now(UTC).replace(tzinfo=None)


def password_hasher(cost: wrapping.KdfCost) -> PasswordHasher:
    """argon2-cffi's RFC 9106 defaults, or the cheapest hash when the test suite runs."""
    if cost == wrapping.TESTING:
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return PasswordHasher()


def password_matches(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(username: str, password: str) -> LazyString | None:
    """Why a new password is refused, or None. Length is what matters (NIST SP 800-63B)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _l("The password must have at least %(min)d characters.", min=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        return _l("The password must have at most %(max)d characters.", max=MAX_PASSWORD_LENGTH)
    if username.lower() in password.lower():
        return _l("The password must not contain the user name.")
    return None


@dataclass(frozen=True)
class NewAccount:
    """What the person creating an account hands over, once: nothing here is stored in clear. There is no
    authenticator key to hand over: it is made at the first login, for the person alone (portal/logins.py)."""

    inspector: Inspector
    one_time_password: str


def new_account(
    *,
    username: str,
    display_name: str,
    role: Role,
    keyring: Keyring,
    cost: wrapping.KdfCost,
    app_secret_key: str,
) -> NewAccount:
    """A new account, not yet stored: the slow hashing is done here, before the caller's transaction
    adds `inspector` (the unique index on usernames settles a race between two admins)."""
    one_time_password = group(random_code(_ONE_TIME_PASSWORD_CHARACTERS), 5)
    # The creator's intake keys, never their grant key: the new person gets a grant key of their own.
    secrets = password_secrets(one_time_password, keyring.only_intake(), cost)
    inspector = Inspector(
        username=username,
        display_name=display_name,
        role=str(role),
        password_hash=secrets.password_hash,
        wrapped_keyring=secrets.copy.blob,
        grant_public_key=secrets.copy.grant_public_key,
        # A key nobody is shown, replaced at the first login: the column is never empty.
        encrypted_totp_secret=totp.encrypt_secret(totp.new_secret(), app_secret_key),
        totp_enrolled=False,
        must_change_password=True,
        active=True,
        failed_logins=0,
        created_at=utcnow(),
    )
    return NewAccount(inspector, one_time_password)


class UsernameTaken(ValueError):
    """Another account already has this user name."""


def store_account(db: Database, account: NewAccount, audit_key: bytes, *, actor_id: int | None, actor: str) -> None:
    """Store a new account and its audit event in one short transaction (the hashing is done already)."""
    inspector = account.inspector
    try:
        with db.transaction() as session:
            session.add(inspector)
            session.flush()
            audit.record(
                session,
                audit_key,
                audit.Action.ACCOUNT_CREATED,
                actor_id=actor_id,
                actor=actor,
                detail={"username": inspector.username, "role": inspector.role},
            )
    except IntegrityError:
        raise UsernameTaken(inspector.username) from None


def username_taken(session: Session, username: str) -> bool:
    return session.scalar(select(func.count()).where(Inspector.username == username)) > 0


def unwrap_keyring(inspector: Inspector, password: str) -> Keyring:
    """Raises WrongPassphrase (or DecryptionError) when the password does not open the copy."""
    if inspector.wrapped_keyring is None:
        raise ValueError("this account holds no copy of the intake keys")
    return unpack_keyring(wrapping.unwrap_with_passphrase(inspector.wrapped_keyring, password))


@dataclass(frozen=True)
class WrappedCopy:
    """A person's copy of the intake keys under their password, with the grant key inside it."""

    keyring: Keyring
    blob: bytes
    grant_public_key: bytes


def wrap_copy(keyring: Keyring, password: str, cost: wrapping.KdfCost) -> WrappedCopy:
    """A person's keyring always carries a grant key, so a key rotation can reach them: a new account's,
    or one made before rotation existed, gets one here."""
    grant = keyring.grant or generate_keypair()
    keyring = Keyring(keyring.intake, grant)
    return WrappedCopy(keyring, wrapping.wrap_with_passphrase(pack_keyring(keyring), password, cost), grant.public)


@dataclass(frozen=True)
class PasswordSecrets:
    """What a password becomes in storage: its hash and the key copy wrapped under it.

    Computed before a write transaction opens (two Argon2 runs), applied inside it.
    """

    password_hash: str
    copy: WrappedCopy

    def apply_to(self, inspector: Inspector) -> None:
        inspector.password_hash = self.password_hash
        inspector.wrapped_keyring = self.copy.blob
        inspector.grant_public_key = self.copy.grant_public_key
        inspector.must_change_password = False


def password_secrets(password: str, keyring: Keyring, cost: wrapping.KdfCost) -> PasswordSecrets:
    return PasswordSecrets(password_hasher(cost).hash(password), wrap_copy(keyring, password, cost))


def deactivate(session: Session, inspector: Inspector) -> None:
    """Delete the account's copy of the keys, its unclaimed grants and every open session: the account
    opens nothing any more, and no later rotation is granted to it."""
    inspector.active = False
    inspector.wrapped_keyring = None
    inspector.grant_public_key = None
    session.execute(delete(KeyGrant).where(KeyGrant.inspector_id == inspector.id))
    session.execute(delete(ReviewerSession).where(ReviewerSession.inspector_id == inspector.id))


def unlock(inspector: Inspector) -> None:
    inspector.failed_logins = 0
    inspector.locked_until = None


def active_inspectors(session: Session, roles: frozenset[Role] = CASE_ROLES) -> list[Inspector]:
    query = select(Inspector).where(Inspector.active, Inspector.role.in_([str(role) for role in roles]))
    return list(session.scalars(query.order_by(Inspector.display_name)))
