"""A keyed hash chain for the audit trail: each link is HMAC-SHA256(key, previous link || record).

Why keyed, not a plain hash chain: a plain SHA-256 chain only proves that rows agree with each
other, and anyone holding the rows can recompute it. A thief of the database who edits, deletes or
reorders a row could then rebuild every later link and leave a chain that checks. With an HMAC the
links can only be recomputed with the audit key, which lives only in the reviewer app's
configuration, never in the database or its backups: an edited row no longer matches its link, and
the thief cannot forge a new one.

What the chain cannot show on its own: a trail cut at the end (the remaining prefix still checks).
The caller keeps the last link beside the chain and, ideally, a copy outside the database.

Records are serialised with `canonical_json` (sorted keys, NFC, compact), so the same record gives
the same link on any machine. The previous link has a fixed length, so the concatenation is
unambiguous. Pure functions: no Flask, no database.
"""

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from .sealing import canonical_json

LINK_BYTES = hashlib.sha256().digest_size
MIN_KEY_BYTES = 32

# The "previous link" of the first record.
GENESIS = bytes(LINK_BYTES)


def require_key(key: bytes) -> bytes:
    """The key itself, or ValueError when it is too short to resist guessing."""
    if not isinstance(key, bytes):
        raise TypeError(f"the chain key must be bytes, got {type(key).__name__}")
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the chain key must be at least {MIN_KEY_BYTES} bytes, got {len(key)}")
    return key


def link(key: bytes, previous: bytes, record: Mapping[str, Any]) -> bytes:
    """The link of `record` after `previous` (GENESIS for the first record): 32 bytes.

    Changing any field of the record, the previous link or the key changes the result.
    """
    require_key(key)
    if len(previous) != LINK_BYTES:
        raise ValueError(f"the previous link must be {LINK_BYTES} bytes, got {len(previous)}")
    return hmac.new(key, bytes(previous) + canonical_json(record), hashlib.sha256).digest()
