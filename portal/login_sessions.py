"""Server-side login sessions that hold the intake keys re-wrapped under a key from the cookie.

At login the inspector's copy of the keys is opened with their password and wrapped again under a
fresh random session key; only a hash of the session token is stored, and only the inspector's
cookie holds the token. Logout, idle expiry and absolute expiry delete the row, and with it the
only copy of the keys that the token could open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from crypto.keyring import Keyring, pack_keyring, unpack_keyring
from crypto.tokens import new_token, session_id, session_key
from crypto.wrapping import unwrap_with_key, wrap_with_key
from portal.models import Inspector, ReviewerSession

SETUP = "setup"  # first login: the one-time password must be changed and TOTP enrolled
READY = "ready"
# Writing last_seen_at on every request would make every page view a write: once a minute is enough.
TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class Lifetime:
    idle: timedelta
    absolute: timedelta

    def expired_before(self, now: datetime) -> tuple[datetime, datetime]:
        """(last seen before, created before): sessions older than either are over."""
        return now - self.idle, now - self.absolute


def open_session(session: Session, inspector: Inspector, keyring: Keyring, stage: str, now: datetime) -> str:
    """Store a new session in the caller's transaction; returns the token for the cookie, never stored."""
    token = new_token()
    session.add(
        ReviewerSession(
            id=session_id(token),
            inspector_id=inspector.id,
            wrapped_keyring=wrap_with_key(pack_keyring(keyring), session_key(token)),
            stage=stage,
            created_at=now,
            last_seen_at=now,
        )
    )
    return token


def find_session(session: Session, token: str, lifetime: Lifetime, now: datetime) -> ReviewerSession | None:
    """The live session for a token, or None: an expired one is treated exactly like a missing one."""
    row = session.get(ReviewerSession, session_id(token))
    if row is None:
        return None
    idle_before, created_before = lifetime.expired_before(now)
    if row.last_seen_at < idle_before or row.created_at < created_before:
        return None
    return row


def keyring_of(row: ReviewerSession, token: str) -> Keyring:
    return unpack_keyring(unwrap_with_key(row.wrapped_keyring, session_key(token)))


def needs_touch(row: ReviewerSession, now: datetime) -> bool:
    return now - row.last_seen_at >= TOUCH_INTERVAL


def close_session(session: Session, token: str) -> int | None:
    """Delete the session for a token; returns its inspector's id, or None if there was none."""
    row = session.get(ReviewerSession, session_id(token))
    if row is None:
        return None
    inspector_id = row.inspector_id
    session.delete(row)
    return inspector_id


def purge_expired(session: Session, lifetime: Lifetime, now: datetime) -> int:
    """Delete every expired session, so an abandoned browser leaves no wrapped keys behind."""
    idle_before, created_before = lifetime.expired_before(now)
    result = session.execute(
        delete(ReviewerSession).where(
            or_(ReviewerSession.last_seen_at < idle_before, ReviewerSession.created_at < created_before)
        )
    )
    return result.rowcount or 0


def sessions_of(session: Session, inspector_id: int) -> list[ReviewerSession]:
    return list(session.scalars(select(ReviewerSession).where(ReviewerSession.inspector_id == inspector_id)))
