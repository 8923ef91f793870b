"""Custody of the intake key pairs: creation, rotation, grants to inspectors, the recovery passphrase.

Every intake private key is kept wrapped under the recovery passphrase for as long as any case sealed
to it exists, so a rotation never loses a report: cases remember the id of the key they were sealed
to. A rotation makes a new pair, retires the others (the citizen portal is then configured with the
new public key) and seals the new private key to every active inspector's grant key; each
inspector's next login adds it to their own copy (`claim_grants`). Deactivated accounts get nothing.

The slow work (Argon2 under the recovery passphrase) happens before the short write transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from crypto import wrapping
from crypto.errors import DecryptionError
from crypto.keyring import Keyring, open_grant, seal_grant
from crypto.keys import KeyPair, generate_keypair, key_id
from portal import audit
from portal.db import Database
from portal.models import Case, Inspector, IntakeKey, KeyGrant
from portal.workdays import today


class NoIntakeKey(LookupError):
    """There is no intake key yet: `keys init` comes first."""


class KeyAlreadyExists(RuntimeError):
    """`keys init` never replaces a key pair: that is what rotation is for."""


class WrongRecoveryPassphrase(ValueError):
    """The passphrase does not open the recovery copies."""


@dataclass(frozen=True)
class NewIntakeKey:
    """What the command line prints once: the public key for the citizen portal's configuration."""

    pair: KeyPair
    granted_to: list[str]
    # Active accounts whose copy predates rotation: they must log in once, then be granted by a new rotation.
    not_granted: list[str]

    @property
    def id(self) -> str:
        return key_id(self.pair.public)


@dataclass(frozen=True)
class KeyStatus:
    id: str
    public_key: bytes
    created_on: date
    active: bool
    cases: int
    pending_grants: int


def recovery_keyring(db: Database, typed_passphrase: str) -> Keyring:
    """Every intake key pair, opened with the recovery passphrase as typed from paper."""
    records = _records(db)
    passphrase = wrapping.normalise_recovery_passphrase(typed_passphrase)
    try:
        pairs = [
            KeyPair.from_private(wrapping.unwrap_with_passphrase(record.recovery_wrapped_private_key, passphrase))
            for record in records
        ]
    except DecryptionError:
        raise WrongRecoveryPassphrase from None
    return Keyring({key_id(pair.public): pair for pair in pairs})


def create_first(db: Database, cost: wrapping.KdfCost, audit_key: bytes) -> tuple[NewIntakeKey, str]:
    """The first intake key pair and a fresh recovery passphrase, to be printed once."""
    with db.session() as session:
        if session.scalar(select(func.count()).select_from(IntakeKey)):
            raise KeyAlreadyExists
    passphrase = wrapping.generate_recovery_passphrase()
    pair = generate_keypair()
    wrapped = wrapping.wrap_with_passphrase(pair.private, passphrase, cost)
    with db.transaction() as session:
        session.add(_record(pair, wrapped))
        audit.record(
            session,
            audit_key,
            audit.Action.KEY_CREATED,
            actor_id=None,
            actor=audit.COMMAND_LINE,
            detail={"key": key_id(pair.public)},
        )
    return NewIntakeKey(pair, [], []), passphrase


def rotate(db: Database, typed_passphrase: str, cost: wrapping.KdfCost, audit_key: bytes) -> NewIntakeKey:
    """A new active intake key pair under the same recovery passphrase, granted to every active inspector."""
    recovery_keyring(db, typed_passphrase)  # proves the passphrase before anything changes
    passphrase = wrapping.normalise_recovery_passphrase(typed_passphrase)
    pair = generate_keypair()
    wrapped = wrapping.wrap_with_passphrase(pair.private, passphrase, cost)
    new_id = key_id(pair.public)
    with db.transaction() as session:
        retired = list(session.scalars(select(IntakeKey.id).where(IntakeKey.active)))
        session.execute(update(IntakeKey).values(active=False))
        session.add(_record(pair, wrapped))
        session.flush()
        granted, not_granted = [], []
        for inspector in session.scalars(select(Inspector).where(Inspector.active).order_by(Inspector.username)):
            if inspector.grant_public_key is None:
                not_granted.append(inspector.username)
                continue
            session.add(
                KeyGrant(
                    inspector_id=inspector.id,
                    intake_key_id=new_id,
                    sealed_private_key=seal_grant(pair, inspector.grant_public_key),
                    granted_on=today(),
                )
            )
            granted.append(inspector.username)
        audit.record(
            session,
            audit_key,
            audit.Action.KEY_ROTATED,
            actor_id=None,
            actor=audit.COMMAND_LINE,
            detail={"key": new_id, "retired": retired, "granted": len(granted), "not_granted": not_granted},
        )
    return NewIntakeKey(pair, granted, not_granted)


def change_recovery_passphrase(db: Database, typed_passphrase: str, cost: wrapping.KdfCost, audit_key: bytes) -> str:
    """Re-wrap every recovery copy under a fresh passphrase, in one transaction; returns it, to be printed once.

    Backups made before keep the recovery copies wrapped under the old passphrase.
    """
    keyring = recovery_keyring(db, typed_passphrase)
    passphrase = wrapping.generate_recovery_passphrase()
    rewrapped = {
        kid: wrapping.wrap_with_passphrase(pair.private, passphrase, cost) for kid, pair in keyring.intake.items()
    }
    with db.transaction() as session:
        records = {record.id: record for record in session.scalars(select(IntakeKey))}
        if set(records) != set(rewrapped):
            # A key was added between opening and writing: refuse rather than leave one under the old passphrase.
            raise RuntimeError("the intake keys changed while the passphrase was being changed; run it again")
        for kid, blob in rewrapped.items():
            records[kid].recovery_wrapped_private_key = blob
        audit.record(
            session, audit_key, audit.Action.RECOVERY_PASSPHRASE_CHANGED, actor_id=None, actor=audit.COMMAND_LINE,
            detail={"keys": sorted(rewrapped)},
        )  # fmt: skip
    return passphrase


def statuses(session: Session) -> list[KeyStatus]:
    cases = dict(session.execute(select(Case.intake_key_id, func.count()).group_by(Case.intake_key_id)).all())
    grants = dict(session.execute(select(KeyGrant.intake_key_id, func.count()).group_by(KeyGrant.intake_key_id)).all())
    return [
        KeyStatus(
            record.id,
            record.public_key,
            record.created_on,
            record.active,
            cases.get(record.id, 0),
            grants.get(record.id, 0),
        )
        for record in session.scalars(select(IntakeKey).order_by(IntakeKey.created_on, IntakeKey.id))
    ]


def active_key_id(session: Session) -> str | None:
    return session.scalar(select(IntakeKey.id).where(IntakeKey.active))


def pending_grants(session: Session, inspector_id: int) -> list[KeyGrant]:
    return list(session.scalars(select(KeyGrant).where(KeyGrant.inspector_id == inspector_id)))


def claim_grants(keyring: Keyring, grants: Iterable[KeyGrant]) -> tuple[Keyring, list[str]]:
    """The keyring with every grant it can open added, and the ids of the grants now settled (to delete).

    A grant that does not open (altered, or sealed to a grant key since replaced) is left where it is.
    """
    if keyring.grant is None:
        return keyring, []
    received: dict[str, KeyPair] = {}
    for grant in grants:
        if grant.intake_key_id in keyring.intake:
            received[grant.intake_key_id] = keyring.intake[grant.intake_key_id]
            continue
        try:
            received[grant.intake_key_id] = open_grant(grant.sealed_private_key, keyring.grant, grant.intake_key_id)
        except DecryptionError:
            continue
    return keyring.with_intake(received), sorted(received)


def delete_grants(session: Session, inspector_id: int, key_ids: list[str]) -> None:
    if key_ids:
        session.execute(
            delete(KeyGrant).where(KeyGrant.inspector_id == inspector_id, KeyGrant.intake_key_id.in_(key_ids))
        )


def _records(db: Database) -> list[IntakeKey]:
    with db.session() as session:
        records = list(session.scalars(select(IntakeKey).order_by(IntakeKey.created_on, IntakeKey.id)))
    if not records:
        raise NoIntakeKey
    return records


def _record(pair: KeyPair, wrapped: bytes) -> IntakeKey:
    return IntakeKey(
        id=key_id(pair.public),
        public_key=pair.public,
        recovery_wrapped_private_key=wrapped,
        created_on=today(),
        active=True,
    )
