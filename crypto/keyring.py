"""The intake private keys one holder (an inspector, a login session) may open, as one blob.

A keyring is the intake private keys and, beside them, the holder's own "grant" key: when the
intake key is rotated, the new private key is sealed to each inspector's grant public key
(`seal_grant`), and the inspector's next login adds it to their keyring. So a rotation reaches
every inspector without anyone knowing their password, and a departed inspector, whose copy and
grant key are gone, gets nothing.

Blob layout: the byte 0x01, the 32-byte grant private key, then the 32-byte intake private keys
laid end to end. Each key's id is recomputed from its public half when opened, so the blob carries
nothing but key material. A blob of whole 32-byte keys only is the earlier form without a grant key;
it is still read, and rewritten in the new form at the holder's next login. Keyrings are only ever
stored wrapped (`crypto/wrapping.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import nacl.exceptions
from nacl.public import PrivateKey, PublicKey, SealedBox

from .errors import DecryptionError
from .keys import KEY_BYTES, KeyPair, key_id

_WITH_GRANT_KEY = b"\x01"


@dataclass(frozen=True)
class Keyring:
    """Intake key pairs by key id (the id every case records), and the holder's grant key, if any."""

    intake: Mapping[str, KeyPair] = field(default_factory=dict)
    grant: KeyPair | None = None

    def __repr__(self) -> str:
        return f"Keyring(intake={sorted(self.intake)!r}, grant={'<hidden>' if self.grant else None})"

    def with_intake(self, pairs: Mapping[str, KeyPair]) -> Keyring:
        return Keyring({**self.intake, **pairs}, self.grant)

    def only_intake(self) -> Keyring:
        """What may be handed to another person: never the holder's own grant key."""
        return Keyring(dict(self.intake))


def pack_keyring(keyring: Keyring) -> bytes:
    if not keyring.intake:
        raise ValueError("a keyring holds at least one intake key")
    for pair in keyring.intake.values():
        if len(pair.private) != KEY_BYTES:
            raise ValueError(f"private keys are {KEY_BYTES} bytes, got {len(pair.private)}")
    keys = b"".join(pair.private for pair in keyring.intake.values())
    if keyring.grant is None:
        return keys
    return _WITH_GRANT_KEY + keyring.grant.private + keys


def unpack_keyring(blob: bytes) -> Keyring:
    grant = None
    if len(blob) % KEY_BYTES == 1 and blob[:1] == _WITH_GRANT_KEY:
        grant = KeyPair.from_private(blob[1 : 1 + KEY_BYTES])
        blob = blob[1 + KEY_BYTES :]
    if not blob or len(blob) % KEY_BYTES:
        raise ValueError("a keyring is a grant key and a whole number of 32-byte intake keys")
    pairs = (KeyPair.from_private(blob[start : start + KEY_BYTES]) for start in range(0, len(blob), KEY_BYTES))
    return Keyring({key_id(pair.public): pair for pair in pairs}, grant)


def seal_grant(intake: KeyPair, grant_public: bytes) -> bytes:
    """An intake private key for one holder: only that holder's grant private key opens it."""
    return SealedBox(PublicKey(grant_public)).encrypt(intake.private)


def open_grant(blob: bytes, grant: KeyPair, expected_key_id: str) -> KeyPair:
    """The intake key pair a grant carries; refuses a grant that opens to a different key than its label."""
    try:
        pair = KeyPair.from_private(SealedBox(PrivateKey(grant.private)).decrypt(blob))
    except (nacl.exceptions.CryptoError, ValueError):
        raise DecryptionError("the grant does not open with this holder's key") from None
    if key_id(pair.public) != expected_key_id:
        raise DecryptionError("the grant holds a different key than the one it names")
    return pair
