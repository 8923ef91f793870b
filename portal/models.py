"""The database schema: only what triage needs is plaintext; everything a reporter wrote is sealed.

Reporter-side times are dates, never timestamps: a time of day can match a reporter to a network
log. Blobs named `sealed_*` are libsodium sealed boxes (see `crypto/sealing.py`); the portal that
writes them cannot open them.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ForeignKey, LargeBinary, String
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

    messages: Mapped[list[Message]] = relationship(
        back_populates="case", order_by="Message.id", cascade="all, delete-orphan"
    )


class Message(Base):
    """A message between reporter and inspectors, sealed to the intake key and the reporter's key."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(16))
    sent_on: Mapped[date]
    sealed_for_intake: Mapped[bytes]
    sealed_for_reporter: Mapped[bytes]

    case: Mapped[Case] = relationship(back_populates="messages")
