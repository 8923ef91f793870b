"""Receipt codes: the only thing a reporter keeps, so they must be easy to type and hard to guess.

19 random characters (95 bits) and a Luhn mod 32 check character, shown as five groups of four.
The check character catches every single-character typo and almost every swap of neighbours
before any lookup. The receipt itself is never stored: the database keeps an HMAC of it, and
the reporter's key is derived from it, so only someone holding it can read the reporter's copy.
"""

import hashlib
import hmac

import nacl.hash
import nacl.utils
from nacl.encoding import RawEncoder

# "X as X" marks a re-export: ALPHABET and normalise_code are part of this module's API too.
from .codes import ALPHABET as ALPHABET
from .codes import group, random_code
from .codes import normalise_code as normalise_code
from .errors import ReceiptFormatError
from .keys import KeyPair

CASE_SALT_BYTES = 16

_RANDOM_CHARACTERS = 19
_LENGTH = _RANDOM_CHARACTERS + 1
_GROUP = 4
_MAX_INPUT = 64  # longer input is refused before any Unicode work
_MIN_PEPPER_BYTES = 32
_PERSON = b"reporter-key-v1"


def generate_receipt() -> str:
    payload = random_code(_RANDOM_CHARACTERS)
    return group(payload + _check_character(payload), _GROUP)


def parse_receipt(text: str) -> str:
    """The canonical 20-character receipt, or ReceiptFormatError saying what is wrong."""
    if len(text) > _MAX_INPUT:
        raise ReceiptFormatError("length")
    code = normalise_code(text)
    if len(code) != _LENGTH:
        raise ReceiptFormatError("length")
    if not all(char in ALPHABET for char in code):
        raise ReceiptFormatError("character")
    if _check_character(code[:-1]) != code[-1]:
        raise ReceiptFormatError("check")
    return code


def format_receipt(canonical: str) -> str:
    return group(_require_canonical(canonical), _GROUP)


def lookup_id(pepper: bytes, canonical_receipt: str) -> bytes:
    """All the database stores of a receipt. No slow hash: 95 random bits need none."""
    if len(pepper) < _MIN_PEPPER_BYTES:
        raise ValueError(f"the receipt pepper must be at least {_MIN_PEPPER_BYTES} bytes")
    message = _require_canonical(canonical_receipt).encode("ascii")
    return hmac.new(pepper, message, hashlib.sha256).digest()


def new_case_salt() -> bytes:
    return nacl.utils.random(CASE_SALT_BYTES)


def reporter_keypair(canonical_receipt: str, salt: bytes) -> KeyPair:
    """The reporter's X25519 key, recomputed whenever the receipt is presented and never stored.

    The per-case salt means a database thief has to guess each case's receipt separately.
    """
    if len(salt) != CASE_SALT_BYTES:
        raise ValueError(f"the case salt must be {CASE_SALT_BYTES} bytes, got {len(salt)}")
    private = nacl.hash.blake2b(
        _require_canonical(canonical_receipt).encode("ascii"),
        digest_size=32,
        salt=salt,
        person=_PERSON,
        encoder=RawEncoder,
    )
    return KeyPair.from_private(private)


def _require_canonical(receipt: str) -> str:
    # A display form ("7K2M-…") or lower case would hash to a different lookup id or key and
    # silently find nothing: insist on what parse_receipt returns.
    if parse_receipt(receipt) != receipt:
        raise ValueError("expected a canonical receipt, as returned by parse_receipt")
    return receipt


def _check_character(payload: str) -> str:
    """Luhn mod N: doubling every second character from the right is what catches swaps."""
    base = len(ALPHABET)
    total = 0
    for position, char in enumerate(reversed(payload)):
        value = ALPHABET.index(char) * (2 if position % 2 == 0 else 1)
        total += value // base + value % base
    return ALPHABET[-total % base]
