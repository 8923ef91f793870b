"""Codes people read aloud, copy onto paper and type on a phone: receipts, recovery passphrases.

Crockford base32: no I, L, O or U, so what is read back can be mapped to one character.
"""

import secrets
import unicodedata

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = frozenset("_.")


def random_code(length: int) -> str:
    """`length` characters from the OS random source, 5 bits each."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def group(code: str, size: int) -> str:
    """The form shown to people: short groups joined by dashes."""
    return "-".join(code[start : start + size] for start in range(0, len(code), size))


def normalise_code(text: str) -> str:
    """Undo what retyping does to a code; validation is the caller's job.

    Drops spaces of every kind, invisible format characters (zero-width space, BOM), dashes of
    every kind (phones turn "--" into an em dash), "_" and "."; upper-cases; reads O as 0 and
    I or L as 1. NFKC first, so full-width characters from some phone keyboards count too.
    """
    kept = (
        char
        for char in unicodedata.normalize("NFKC", text).upper()
        if not _is_separator(char)
    )
    return "".join(kept).translate(_LOOKALIKES)


def _is_separator(char: str) -> bool:
    return char.isspace() or char in _SEPARATORS or unicodedata.category(char) in ("Cf", "Pd")
