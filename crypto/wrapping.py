"""Wrapping private keys under a passphrase or a random key, so none is ever stored in the clear.

Passphrase blob layout (integers big-endian):

    version      1 byte, currently 1
    opslimit     4 bytes
    memlimit     4 bytes, in KiB: Argon2 ignores the sub-KiB part, and every stored bit must matter
    salt         16 bytes
    SecretBox    24-byte nonce, 16-byte tag, the wrapped secret

The cost travels with the blob, so a key wrapped today still opens after the defaults are raised.
"""

import struct
import unicodedata
from dataclasses import dataclass

import nacl.exceptions
import nacl.utils
from nacl.pwhash import argon2id
from nacl.secret import SecretBox

from .codes import group, normalise_code, random_code
from .errors import DecryptionError, WrongPassphrase

_FORMAT_VERSION = 1
_HEADER = struct.Struct(">BII")
_SALT_BYTES = argon2id.SALTBYTES
_KIB = 1024
# Ceilings on what a blob may ask for: far above any real setting, low enough that a forged
# blob cannot make the server allocate gigabytes or hash for minutes.
_MAX_OPSLIMIT = 16
_MAX_MEMLIMIT = 1 << 30

_RECOVERY_CHARACTERS = 35  # 35 × 5 bits = 175 bits, at least the 160 the design asks for
_RECOVERY_GROUP = 5


@dataclass(frozen=True)
class KdfCost:
    """Argon2id work factors, checked on creation: the same bounds apply when read from a blob."""

    opslimit: int
    memlimit: int

    def __post_init__(self) -> None:
        if not argon2id.OPSLIMIT_MIN <= self.opslimit <= _MAX_OPSLIMIT:
            raise ValueError(f"opslimit must be {argon2id.OPSLIMIT_MIN} to {_MAX_OPSLIMIT}")
        if not argon2id.MEMLIMIT_MIN <= self.memlimit <= _MAX_MEMLIMIT or self.memlimit % _KIB:
            raise ValueError(
                f"memlimit must be a whole number of KiB from {argon2id.MEMLIMIT_MIN}"
                f" to {_MAX_MEMLIMIT} bytes"
            )


MODERATE = KdfCost(argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE)
INTERACTIVE = KdfCost(argon2id.OPSLIMIT_INTERACTIVE, argon2id.MEMLIMIT_INTERACTIVE)
TESTING = KdfCost(argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN)  # test fixtures only: no security


def wrap_with_passphrase(secret: bytes, passphrase: str, cost: KdfCost = MODERATE) -> bytes:
    if not passphrase:
        raise ValueError("refusing to wrap a key under an empty passphrase")
    salt = nacl.utils.random(_SALT_BYTES)
    header = _HEADER.pack(_FORMAT_VERSION, cost.opslimit, cost.memlimit // _KIB) + salt
    return header + SecretBox(_derive_key(passphrase, salt, cost)).encrypt(secret)


def unwrap_with_passphrase(blob: bytes, passphrase: str) -> bytes:
    """Checks the header before running Argon2, so a malformed blob costs nothing."""
    boxed_from = _HEADER.size + _SALT_BYTES
    if len(blob) < boxed_from + SecretBox.NONCE_SIZE + SecretBox.MACBYTES:
        raise DecryptionError("wrapped key is truncated")
    version, opslimit, memlimit_kib = _HEADER.unpack_from(blob)
    if version != _FORMAT_VERSION:
        raise DecryptionError("unknown wrapped-key format version")
    try:
        cost = KdfCost(opslimit, memlimit_kib * _KIB)
    except ValueError:
        raise DecryptionError("wrapped key asks for an unacceptable KDF cost") from None
    key = _derive_key(passphrase, blob[_HEADER.size : boxed_from], cost)
    try:
        return _open(key, blob[boxed_from:])
    except DecryptionError:
        raise WrongPassphrase("wrong passphrase, or the blob was altered") from None


def wrap_with_key(secret: bytes, key: bytes) -> bytes:
    _require_key_size(key)
    return SecretBox(key).encrypt(secret)


def unwrap_with_key(blob: bytes, key: bytes) -> bytes:
    _require_key_size(key)
    return _open(key, blob)


def generate_recovery_passphrase() -> str:
    """Printed once at key creation and kept on paper, so it uses the receipt alphabet."""
    return group(random_code(_RECOVERY_CHARACTERS), _RECOVERY_GROUP)


def normalise_recovery_passphrase(text: str) -> str:
    """The canonical form of a recovery passphrase as retyped from paper.

    Argon2 sees exact bytes, so callers pass this, not the typed text, to both
    `wrap_with_passphrase` and `unwrap_with_passphrase`. Inspectors' own passwords are not
    normalised this way: folding case would weaken them.
    """
    return group(normalise_code(text), _RECOVERY_GROUP)


def _derive_key(passphrase: str, salt: bytes, cost: KdfCost) -> bytes:
    # NFC: the same passphrase typed on two keyboards can arrive in two Unicode forms.
    password = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    return argon2id.kdf(
        SecretBox.KEY_SIZE, password, salt, opslimit=cost.opslimit, memlimit=cost.memlimit
    )


def _open(key: bytes, box: bytes) -> bytes:
    try:
        return SecretBox(key).decrypt(box)
    except nacl.exceptions.CryptoError:  # PyNaCl's errors for short input derive from it too
        raise DecryptionError("wrong key, or the blob was truncated or altered") from None


def _require_key_size(key: bytes) -> None:
    if len(key) != SecretBox.KEY_SIZE:
        raise ValueError(f"a wrapping key must be {SecretBox.KEY_SIZE} bytes, got {len(key)}")
