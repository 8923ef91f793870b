"""X25519 key pairs as raw bytes, and the text forms used in configuration and case records."""

import base64
import hashlib
from dataclasses import dataclass
from typing import Self

from nacl.public import PrivateKey

KEY_BYTES = 32


@dataclass(frozen=True)
class KeyPair:
    """Raw 32-byte keys, so callers never depend on PyNaCl's key classes."""

    public: bytes
    private: bytes

    def __post_init__(self) -> None:
        _require_key_length(self.public, "public")
        _require_key_length(self.private, "private")

    def __repr__(self) -> str:
        # A key pair may end up in a log line or a traceback: show which key, never the secret.
        return f"KeyPair(key_id={key_id(self.public)!r}, private=<hidden>)"

    @classmethod
    def from_private(cls, private: bytes) -> Self:
        """The one place a public key is derived from a private one."""
        return cls(public=bytes(PrivateKey(private).public_key), private=private)


def generate_keypair() -> KeyPair:
    return KeyPair.from_private(bytes(PrivateKey.generate()))


def public_key_b64(public: bytes) -> str:
    """Standard padded base64, the form pasted into the citizen portal's configuration."""
    _require_key_length(public, "public")
    return base64.b64encode(public).decode("ascii")


def parse_public_key_b64(text: str) -> bytes:
    """Strict, because a mangled intake key in configuration must stop the app, not seal to junk."""
    try:
        public = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise ValueError(f"public key is not valid base64: {exc}") from None
    _require_key_length(public, "public")
    return public


def key_id(public: bytes) -> str:
    """Short fingerprint stored with each case, so a rotated intake key can still be found."""
    return hashlib.sha256(public).hexdigest()[:16]


def _require_key_length(key: bytes, which: str) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError(f"{which} key must be {KEY_BYTES} bytes, got {len(key)}")
