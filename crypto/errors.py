"""Exceptions raised by the crypto package, so callers can tell a bad input from a bug."""

from typing import Literal

ReceiptProblem = Literal["length", "character", "check"]


class CryptoError(Exception):
    """Base of every error this package raises on purpose."""


class DecryptionError(CryptoError):
    """Ciphertext altered, truncated, malformed, sealed to another key, or of the wrong kind/schema.

    Deliberately one type: telling an attacker which check failed would only help them.
    """


class WrongPassphrase(DecryptionError):
    """The passphrase did not open a wrapped key.

    A subclass of DecryptionError because an authenticated cipher cannot tell a wrong key from an
    altered ciphertext: a damaged blob may surface as this error too.
    """


class ReceiptFormatError(ValueError):
    """A typed receipt was rejected before any lookup; `reason` lets the page say why."""

    def __init__(self, reason: ReceiptProblem) -> None:
        super().__init__(reason)
        self.reason: ReceiptProblem = reason
