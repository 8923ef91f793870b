import math
import re
import struct
import unicodedata

import nacl.utils
import pytest

from crypto.codes import ALPHABET
from crypto.errors import DecryptionError, WrongPassphrase
from crypto.wrapping import (
    INTERACTIVE,
    MODERATE,
    TESTING,
    KdfCost,
    generate_recovery_passphrase,
    normalise_recovery_passphrase,
    unwrap_with_key,
    unwrap_with_passphrase,
    wrap_with_key,
    wrap_with_passphrase,
)

PASSPHRASE = "mật khẩu của thanh tra viên"
SECRET = bytes(range(32))  # stands in for an intake private key


@pytest.fixture(scope="module")
def wrapped() -> bytes:
    return wrap_with_passphrase(SECRET, PASSPHRASE, TESTING)


def test_passphrase_wrap_round_trips(wrapped: bytes) -> None:
    assert unwrap_with_passphrase(wrapped, PASSPHRASE) == SECRET


@pytest.mark.slow  # two Argon2id runs at 256 MiB: about 1.2 s
def test_default_cost_round_trips() -> None:
    assert unwrap_with_passphrase(wrap_with_passphrase(SECRET, PASSPHRASE), PASSPHRASE) == SECRET


def test_passphrase_is_compared_after_nfc() -> None:
    blob = wrap_with_passphrase(SECRET, unicodedata.normalize("NFD", PASSPHRASE), TESTING)
    assert unwrap_with_passphrase(blob, unicodedata.normalize("NFC", PASSPHRASE)) == SECRET


@pytest.mark.parametrize("attempt", ["", "mật khẩu", PASSPHRASE.upper(), PASSPHRASE + " "])
def test_wrong_passphrase_is_reported_as_such(wrapped: bytes, attempt: str) -> None:
    with pytest.raises(WrongPassphrase):
        unwrap_with_passphrase(wrapped, attempt)


def test_empty_passphrase_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        wrap_with_passphrase(SECRET, "", TESTING)


def test_every_flipped_byte_is_detected(wrapped: bytes) -> None:
    for position in range(len(wrapped)):
        altered = bytearray(wrapped)
        altered[position] ^= 1 << (position % 8)
        with pytest.raises(DecryptionError):
            unwrap_with_passphrase(bytes(altered), PASSPHRASE)


def test_every_truncation_is_detected(wrapped: bytes) -> None:
    for length in range(len(wrapped)):
        with pytest.raises(DecryptionError):
            unwrap_with_passphrase(wrapped[:length], PASSPHRASE)


def test_blob_does_not_contain_the_secret() -> None:
    secret = nacl.utils.random(32)
    blob = wrap_with_passphrase(secret, PASSPHRASE, TESTING)
    assert not any(secret[start : start + 8] in blob for start in range(len(secret) - 7))


def test_blob_records_its_own_cost() -> None:
    # Neither cost is the default: unwrapping works only if each blob says how it was made.
    cheap = wrap_with_passphrase(SECRET, PASSPHRASE, TESTING)
    dearer = wrap_with_passphrase(SECRET, PASSPHRASE, KdfCost(opslimit=2, memlimit=64 * 1024))
    assert unwrap_with_passphrase(cheap, PASSPHRASE) == SECRET
    assert unwrap_with_passphrase(dearer, PASSPHRASE) == SECRET


# The header layout is documented in crypto/wrapping.py: version, opslimit, memlimit in KiB.
def with_header(blob: bytes, version: int, opslimit: int, memlimit_kib: int) -> bytes:
    return struct.pack(">BII", version, opslimit, memlimit_kib) + blob[9:]


def test_wrapped_blob_header_is_as_documented(wrapped: bytes) -> None:
    assert wrapped[:9] == struct.pack(">BII", 1, TESTING.opslimit, TESTING.memlimit // 1024)


@pytest.mark.parametrize(
    ("opslimit", "memlimit_kib"),
    [(1, 4 << 20), (1, 0xFFFF_FFFF), (1 << 31, 8), (0, 8), (1, 1)],
)
def test_absurd_cost_in_a_blob_is_refused_before_any_work(
    wrapped: bytes, opslimit: int, memlimit_kib: int
) -> None:
    with pytest.raises(DecryptionError, match="cost"):
        unwrap_with_passphrase(with_header(wrapped, 1, opslimit, memlimit_kib), PASSPHRASE)


def test_unknown_format_version_is_refused(wrapped: bytes) -> None:
    with pytest.raises(DecryptionError, match="version"):
        unwrap_with_passphrase(with_header(wrapped, 2, TESTING.opslimit, 8), PASSPHRASE)


@pytest.mark.parametrize(
    ("opslimit", "memlimit"),
    [(0, 8192), (17, 8192), (1, 8191), (1, 8193), (1, (1 << 30) + 1024)],
)
def test_unusable_costs_cannot_be_configured(opslimit: int, memlimit: int) -> None:
    with pytest.raises(ValueError):
        KdfCost(opslimit, memlimit)


def test_named_costs_grow() -> None:
    assert TESTING.memlimit < INTERACTIVE.memlimit < MODERATE.memlimit


def test_key_wrap_round_trips() -> None:
    key = nacl.utils.random(32)
    assert unwrap_with_key(wrap_with_key(SECRET, key), key) == SECRET


def test_key_wrap_refuses_wrong_key_and_any_alteration() -> None:
    key = nacl.utils.random(32)
    blob = wrap_with_key(SECRET, key)
    with pytest.raises(DecryptionError):
        unwrap_with_key(blob, nacl.utils.random(32))
    for position in range(len(blob)):
        altered = bytearray(blob)
        altered[position] ^= 0x80
        with pytest.raises(DecryptionError):
            unwrap_with_key(bytes(altered), key)
    for length in range(len(blob)):
        with pytest.raises(DecryptionError):
            unwrap_with_key(blob[:length], key)
    assert SECRET not in blob


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_key_wrap_needs_a_32_byte_key(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        wrap_with_key(SECRET, bytes(length))
    with pytest.raises(ValueError, match="32 bytes"):
        unwrap_with_key(wrap_with_key(SECRET, bytes(32)), bytes(length))


def test_recovery_passphrase_has_at_least_160_bits() -> None:
    passphrase = generate_recovery_passphrase()
    assert re.fullmatch(rf"[{ALPHABET}]{{5}}(-[{ALPHABET}]{{5}})+", passphrase)
    characters = passphrase.replace("-", "")
    assert len(characters) * math.log2(len(ALPHABET)) >= 160
    assert len({generate_recovery_passphrase() for _ in range(100)}) == 100


PAPER = "7K2M0-Q9XD1-ABCDE-FGHJK-MNPQR-STVWX-YZ012"


@pytest.mark.parametrize(
    "typed",
    [
        "7k2m0 q9xd1 abcde fghjk mnpqr stvwx yz012",
        "7K2MO-Q9XDI-ABCDE-FGHJK-MNPQR-STVWX-YZOL2",
        " 7k2mo q9xdl abcdefghjk mnpqr-stvwx  yzoi2\n",
    ],
)
def test_recovery_passphrase_survives_retyping(typed: str) -> None:
    assert normalise_recovery_passphrase(typed) == PAPER


def test_retyped_recovery_passphrase_opens_the_recovery_copy() -> None:
    passphrase = generate_recovery_passphrase()
    assert normalise_recovery_passphrase(passphrase) == passphrase
    blob = wrap_with_passphrase(SECRET, passphrase, TESTING)
    typed = passphrase.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert unwrap_with_passphrase(blob, normalise_recovery_passphrase(typed)) == SECRET
