"""Inspector login: password, one-time code, backoff and lockout per account, all of it audited.

The slow steps (Argon2 for the password hash, Argon2 again to open the key copy) run outside any
write transaction. Counting a failure, and using up a one-time code, are single conditional
UPDATEs, so two requests racing with the same code or password cannot both get through, and a
failure is committed even though the login itself fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from crypto import wrapping
from crypto.errors import DecryptionError
from portal import accounts, audit, intake_keys, totp
from portal.db import Database
from portal.login_sessions import READY, SETUP, Lifetime, open_session, purge_expired
from portal.models import Inspector

LOCK_AFTER_FAILURES = 5
FIRST_LOCK = timedelta(minutes=1)
LONGEST_LOCK = timedelta(hours=1)


class Failure(StrEnum):
    UNKNOWN_ACCOUNT = "unknown account"
    INACTIVE = "inactive account"
    LOCKED = "locked"
    PASSWORD = "wrong password"
    CODE = "wrong or used code"
    CURRENT_PASSWORD = "wrong current password on the password page"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    code: str


@dataclass(frozen=True)
class LoginSettings:
    cost: wrapping.KdfCost
    app_secret_key: str
    audit_key: bytes
    lifetime: Lifetime


@dataclass(frozen=True)
class LoginResult:
    """A token and its stage on success; otherwise the failure (kept from the person: it helps an attacker)."""

    token: str | None = None
    stage: str | None = None
    failure: Failure | None = None
    locked_until: datetime | None = None


def lock_for(failures: int) -> timedelta | None:
    """Backoff: from the fifth failure in a row the account locks for 1, 2, 4 … minutes, at most an hour."""
    if failures < LOCK_AFTER_FAILURES:
        return None
    return min(FIRST_LOCK * 2 ** min(failures - LOCK_AFTER_FAILURES, 16), LONGEST_LOCK)


def log_in(db: Database, credentials: Credentials, settings: LoginSettings, now: datetime) -> LoginResult:
    hasher = accounts.password_hasher(settings.cost)
    with db.session() as session:
        inspector = session.scalar(select(Inspector).where(Inspector.username == credentials.username))
    if inspector is None or not inspector.active:
        # Same work as a real check, so the answer's timing does not tell which usernames exist.
        accounts.password_matches(hasher, _decoy_hash(settings.cost), credentials.password)
        failure = Failure.UNKNOWN_ACCOUNT if inspector is None else Failure.INACTIVE
        return _fail(db, settings, inspector, failure, now)
    # The hash is checked even for a locked account, so a quick refusal never tells that it exists.
    password_ok = accounts.password_matches(hasher, inspector.password_hash, credentials.password)
    if inspector.locked_until is not None and inspector.locked_until > now:
        return _fail(db, settings, inspector, Failure.LOCKED, now, count=False)
    if not password_ok:
        return _fail(db, settings, inspector, Failure.PASSWORD, now)

    step = None
    if inspector.totp_enrolled:
        secret = totp.decrypt_secret(inspector.encrypted_totp_secret, settings.app_secret_key)
        step = totp.accepted_step(secret, credentials.code, now=now, last_step=inspector.totp_last_step)
        if step is None:
            return _fail(db, settings, inspector, Failure.CODE, now)
    try:
        held = accounts.unwrap_keyring(inspector, credentials.password)
    except (DecryptionError, ValueError):
        # The hash matched but the copy does not open: the row was tampered with. Refuse, loudly in the trail.
        return _fail(db, settings, inspector, Failure.PASSWORD, now)

    stage = READY if inspector.totp_enrolled and not inspector.must_change_password else SETUP
    values: dict[str, object] = {"failed_logins": 0, "locked_until": None}
    # Intake keys a rotation granted since the last login join the person's own copy, re-wrapped under the
    # password they just typed (a copy without a grant key gets one, so the next rotation reaches it).
    with db.session() as session:
        keyring, settled = intake_keys.claim_grants(held, intake_keys.pending_grants(session, inspector.id))
    received = sorted(set(keyring.intake) - set(held.intake))
    copy = None
    if received or keyring.grant is None:
        copy = accounts.wrap_copy(keyring, credentials.password, settings.cost)
        keyring = copy.keyring
    if hasher.check_needs_rehash(inspector.password_hash):
        values["password_hash"] = hasher.hash(credentials.password)
    if not inspector.totp_enrolled:
        # The authenticator key is made here, at the first login, and shown only on this person's setup
        # page: the admin who created the account never sees it.
        values["encrypted_totp_secret"] = totp.encrypt_secret(totp.new_secret(), settings.app_secret_key)
    with db.transaction() as session:
        # The check above read the last used step outside this transaction: claim the step atomically.
        if step is None or use_step(session, inspector.id, step):
            session.execute(update(Inspector).where(Inspector.id == inspector.id).values(**values))
            if copy is None or _replace_copy(session, inspector, copy):
                intake_keys.delete_grants(session, inspector.id, settled)
            purge_expired(session, settings.lifetime, now)
            token = open_session(session, inspector, keyring, stage, now)
            audit.record(
                session,
                settings.audit_key,
                audit.Action.LOGIN,
                actor_id=inspector.id,
                actor=inspector.username,
                detail={"stage": stage, **({"keys_received": received} if received else {})},
                now=now,
            )
            return LoginResult(token=token, stage=stage)
    return _fail(db, settings, inspector, Failure.CODE, now)


def _replace_copy(session: Session, inspector: Inspector, copy: accounts.WrappedCopy) -> bool:
    """Store the re-wrapped copy only if the one it was made from is still there: a password changed in another
    browser meanwhile wins, and the grants stay for the next login."""
    result = session.execute(
        update(Inspector)
        .where(Inspector.id == inspector.id, Inspector.wrapped_keyring == inspector.wrapped_keyring)
        .values(wrapped_keyring=copy.blob, grant_public_key=copy.grant_public_key)
    )
    return result.rowcount == 1


def use_step(session: Session, inspector_id: int, step: int) -> bool:
    """Mark a one-time code's time step as used; False if it (or a later one) already was."""
    result = session.execute(
        update(Inspector)
        .where(
            Inspector.id == inspector_id,
            or_(Inspector.totp_last_step.is_(None), Inspector.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return result.rowcount == 1


def wrong_current_password(db: Database, settings: LoginSettings, inspector: Inspector, now: datetime) -> None:
    """A wrong current password on the password page is a failed login: audited and counted towards the
    account's lockout, so a stolen session cookie is no silent password oracle."""
    _fail(db, settings, inspector, Failure.CURRENT_PASSWORD, now)


def _fail(
    db: Database,
    settings: LoginSettings,
    inspector: Inspector | None,
    failure: Failure,
    now: datetime,
    *,
    count: bool = True,
) -> LoginResult:
    """Count the failure against the account and write it to the trail, in a transaction of its own."""
    locked_until = inspector.locked_until if inspector is not None else None
    with db.transaction() as session:
        if inspector is not None and count and inspector.active:
            failures = session.execute(
                update(Inspector)
                .where(Inspector.id == inspector.id)
                .values(failed_logins=Inspector.failed_logins + 1)
                .returning(Inspector.failed_logins)
            ).scalar_one()
            lock = lock_for(failures)
            if lock is not None:
                locked_until = now + lock
                session.execute(update(Inspector).where(Inspector.id == inspector.id).values(locked_until=locked_until))
        audit.record(
            session,
            settings.audit_key,
            audit.Action.LOGIN_FAILED,
            actor_id=inspector.id if inspector is not None else None,
            # An unknown username is not recorded: people type their password into that field.
            actor=inspector.username if inspector is not None else None,
            detail={"reason": str(failure)},
            now=now,
        )
    return LoginResult(failure=failure, locked_until=locked_until)


@cache
def _decoy_hash(cost: wrapping.KdfCost) -> str:
    return accounts.password_hasher(cost).hash("decoy password for unknown usernames")
