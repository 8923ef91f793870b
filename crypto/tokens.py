"""Session tokens and keys derived from secrets, so no stored value can be replayed as a credential.

A reviewer session is a random token held only in the inspector's cookie. The server stores the
token's hash (to find the session) and the intake keys wrapped under a second hash of it (to open
them): the table alone yields neither a cookie nor a key.
"""

import hashlib
import secrets

TOKEN_BYTES = 32
KEY_BYTES = 32
_MAX_BLAKE2B_KEY = 64


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def session_id(token: str) -> bytes:
    return _hash(token, b"portal/sess-id")


def session_key(token: str) -> bytes:
    return _hash(token, b"portal/sess-key")


def derive_key(secret: str | bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose (e.g. encrypting TOTP secrets) from a configured secret."""
    material = secret.encode("utf-8") if isinstance(secret, str) else secret
    if len(material) < 32:
        raise ValueError("the secret must be at least 32 bytes")
    if len(material) > _MAX_BLAKE2B_KEY:
        material = hashlib.blake2b(material, digest_size=_MAX_BLAKE2B_KEY).digest()
    return hashlib.blake2b(purpose.encode("utf-8"), key=material, digest_size=KEY_BYTES).digest()


def _hash(token: str, person: bytes) -> bytes:
    return hashlib.blake2b(token.encode("ascii"), digest_size=32, person=person).digest()
