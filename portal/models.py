"""The database schema: only what triage needs is plaintext; everything a reporter wrote is sealed.

Reporter-side times are dates, never timestamps: a time of day can match a reporter to a network
log. Blobs named `sealed_*` are libsodium sealed boxes (see `crypto/sealing.py`); the portal that
writes them cannot open them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    type_annotation_map = {bytes: LargeBinary}


class IntakeKey(Base):
    """An intake key pair: the public half in clear, the private half only wrapped."""

    __tablename__ = "intake_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_key: Mapped[bytes]
    recovery_wrapped_private_key: Mapped[bytes]
    created_on: Mapped[date]
    active: Mapped[bool] = mapped_column(default=True)


class ReferenceCounter(Base):
    """Per-year counter behind inspectors' case numbers, bumped atomically in the filing transaction."""

    __tablename__ = "reference_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_value: Mapped[int]


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    # HMAC-SHA256(pepper, receipt): the only trace of the receipt, probed by a unique index.
    lookup_id: Mapped[bytes] = mapped_column(unique=True)
    report_type: Mapped[str] = mapped_column(String(32), index=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    anonymous: Mapped[bool]
    received_on: Mapped[date] = mapped_column(index=True)
    state_since: Mapped[date]
    answer_due_on: Mapped[date | None] = mapped_column(index=True)
    intake_key_id: Mapped[str] = mapped_column(String(16))
    reporter_public_key: Mapped[bytes]
    reporter_salt: Mapped[bytes]
    sealed_report: Mapped[bytes]
    sealed_report_for_reporter: Mapped[bytes]
    # Sealed to the intake key only: the receipt alone must never reveal who reported.
    sealed_identity: Mapped[bytes | None]

    # Lifecycle clocks (portal/lifecycle.py): answer_due_on is the nearest legal deadline, shown to
    # the reporter as the date of the next answer; resolution_due_on is the Art. 30 clock once accepted.
    resolution_due_on: Mapped[date | None]
    # Days left on the running clock while it is paused (NEED_INFO, SUSPENDED).
    paused_days_left: Mapped[int | None]
    extensions: Mapped[int] = mapped_column(default=0)
    first_decision_on: Mapped[date | None]
    concluded_on: Mapped[date | None]
    # The body a case was transferred or referred to, so a forwarded petition is followed to its result.
    forwarded_to: Mapped[str | None] = mapped_column(String(300))

    # Triage metadata, set by inspectors in plaintext so the queue never needs to decrypt anything.
    sector: Mapped[str | None] = mapped_column(String(32), index=True)
    ward_code: Mapped[str | None] = mapped_column(String(8), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("inspectors.id"), index=True)
    urgent: Mapped[bool] = mapped_column(default=False, index=True)
    protection_requested: Mapped[bool] = mapped_column(default=False, index=True)
    complex: Mapped[bool] = mapped_column(default=False, index=True)
    especially_complex: Mapped[bool] = mapped_column(default=False, index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    identity_revealed_on: Mapped[date | None]

    messages: Mapped[list[Message]] = relationship(
        back_populates="case", order_by="Message.id", cascade="all, delete-orphan"
    )
    categories: Mapped[list[CaseCategory]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class CaseCategory(Base):
    """One misconduct category an inspector assigned to a case (several may apply)."""

    __tablename__ = "case_categories"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class Message(Base):
    """A message between reporter and inspectors, sealed to the intake key and the reporter's key."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(16))
    # Which inspector wrote it, for the inspectorate's own record; never shown to the reporter.
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("inspectors.id"))
    sent_on: Mapped[date]
    sealed_for_intake: Mapped[bytes]
    sealed_for_reporter: Mapped[bytes]

    case: Mapped[Case] = relationship(back_populates="messages")


class Attachment(Base):
    """An evidence file. Its content is secretstream ciphertext in `attachment_chunks`; its file key,
    name, type and size exist only inside the two sealed copies, so the table says nothing of what
    was sent beyond a size rounded to whole chunks."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    # The message it came with; None for files sent with the report itself.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(16))
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("inspectors.id"))
    sent_on: Mapped[date]
    # secretstream's header: public, but needed with the key to open the first chunk.
    stream_header: Mapped[bytes]
    chunk_count: Mapped[int]
    sealed_for_intake: Mapped[bytes]
    sealed_for_reporter: Mapped[bytes]


class AttachmentChunk(Base):
    """One ciphertext chunk of a file; read back in `seq` order a batch at a time, never whole."""

    __tablename__ = "attachment_chunks"

    attachment_id: Mapped[int] = mapped_column(ForeignKey("attachments.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes]


class CaseNote(Base):
    """An internal note, sealed to the intake key: never shown to the reporter."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id"))
    written_on: Mapped[date]
    sealed_note: Mapped[bytes]


class CaseEvent(Base):
    """The case's timeline: transitions, assignments, classifications, reveals.

    What an inspector wrote with it (a reason, the body it went to) is sealed to the intake key;
    the event's kind and states are plaintext so the timeline and statistics need no key.
    """

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    occurred_on: Mapped[date]
    # None when the reporter's own action moved the case (new information reopening it).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("inspectors.id"))
    kind: Mapped[str] = mapped_column(String(16))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    sealed_detail: Mapped[bytes | None]


class Inspector(Base):
    """A reviewer-app account. The password is kept only as an Argon2id hash; the intake keys only
    wrapped under a key derived from the password; the TOTP secret only encrypted."""

    __tablename__ = "inspectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    # The inspector's copy of the intake private keys; None once the account is deactivated.
    wrapped_keyring: Mapped[bytes | None]
    # The public half of the grant key inside that copy: a rotated-in intake key is sealed to it
    # (KeyGrant). None for a copy made before rotation existed, until the person's next login.
    grant_public_key: Mapped[bytes | None]
    encrypted_totp_secret: Mapped[bytes]
    totp_enrolled: Mapped[bool] = mapped_column(default=False)
    # The last TOTP time step accepted: a code is good once only.
    totp_last_step: Mapped[int | None]
    must_change_password: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]


class KeyGrant(Base):
    """An intake private key sealed to one inspector's grant key by a rotation, until their next login
    adds it to their own copy (crypto/keyring.py)."""

    __tablename__ = "key_grants"

    inspector_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id", ondelete="CASCADE"), primary_key=True)
    intake_key_id: Mapped[str] = mapped_column(ForeignKey("intake_keys.id"), primary_key=True)
    sealed_private_key: Mapped[bytes]
    granted_on: Mapped[date]


class ReviewerSession(Base):
    """A login: the intake keys re-wrapped under a key only the inspector's cookie token yields.

    The row is found by a hash of the token, so neither the table nor a backup can be replayed as a
    cookie; deleting the row (logout, expiry, deactivation) destroys the session's copy of the keys.
    """

    __tablename__ = "reviewer_sessions"

    id: Mapped[bytes] = mapped_column(primary_key=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id", ondelete="CASCADE"), index=True)
    wrapped_keyring: Mapped[bytes]
    # "setup" until the first-login password change and TOTP enrolment are done, then "ready".
    stage: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class AuditEvent(Base):
    """One append-only, hash-chained entry of the audit trail (portal/audit.py)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    # No foreign keys: the trail must outlive anything it mentions.
    actor_id: Mapped[int | None]
    actor: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32), index=True)
    case_id: Mapped[int | None] = mapped_column(index=True)
    detail: Mapped[str] = mapped_column(Text)
    previous_hash: Mapped[bytes]
    hash: Mapped[bytes]


class AuditHead(Base):
    """The last event's number and hash in one row: appends serialise on it, and cutting the tail
    of the trail without the audit key shows as a mismatch."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_event_id: Mapped[int]
    last_hash: Mapped[bytes]


# The queue's order (portal/triage.py QUEUE_ORDER), within a state and overall: a page is read
# from the index without sorting the table.
Index("ix_cases_state_due", Case.state, Case.answer_due_on, Case.received_on, Case.id)
Index("ix_cases_due_order", Case.answer_due_on, Case.received_on, Case.id)
# Statistics' medians read these three dates only: a covering index spares reading the sealed rows.
Index("ix_cases_durations", Case.received_on, Case.first_decision_on, Case.concluded_on)
