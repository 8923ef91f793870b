"""The intake private keys one holder (an inspector, a login session) may open, as one blob.

A keyring is the 32-byte private keys laid end to end; each key's id is recomputed from its public
half when opened, so the blob carries nothing but key material and a rotated-in key is one more
32 bytes. Keyrings are only ever stored wrapped (`crypto/wrapping.py`).
"""

from collections.abc import Iterable

from .keys import KEY_BYTES, KeyPair, key_id


def pack_keyring(private_keys: Iterable[bytes]) -> bytes:
    keys = list(private_keys)
    if not keys:
        raise ValueError("a keyring holds at least one key")
    for key in keys:
        if len(key) != KEY_BYTES:
            raise ValueError(f"private keys are {KEY_BYTES} bytes, got {len(key)}")
    return b"".join(keys)


def unpack_keyring(blob: bytes) -> dict[str, KeyPair]:
    """Key pairs by key id, the id every case records for the key its report was sealed to."""
    if not blob or len(blob) % KEY_BYTES:
        raise ValueError("a keyring is a whole number of 32-byte keys")
    pairs = (KeyPair.from_private(blob[start : start + KEY_BYTES]) for start in range(0, len(blob), KEY_BYTES))
    return {key_id(pair.public): pair for pair in pairs}
