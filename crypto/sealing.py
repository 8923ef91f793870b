"""Sealing documents (reports, identities, messages, notes) to X25519 public keys.

A document is an envelope {"schema", "kind", "body"} in canonical JSON, padded to a size bucket,
then sealed with an anonymous SealedBox: anyone holding the public key can seal, only the
private key opens. The kind is inside the seal, so a message cannot be replayed as a report.
"""

import json
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import nacl.exceptions
from nacl.public import PrivateKey, PublicKey, SealedBox

from .errors import DecryptionError
from .padding import pad, unpad

SCHEMA_VERSION = 1

_ENVELOPE_KEYS = frozenset({"schema", "kind", "body"})


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """One byte string per document, whatever the key order or Unicode form it was built in."""
    return json.dumps(
        _nfc(document),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def seal_document(kind: str, body: Mapping[str, Any], public_keys: Sequence[bytes]) -> list[bytes]:
    """One ciphertext per key, in the order given (e.g. intake key, then the reporter's key)."""
    if not public_keys:
        raise ValueError("a document must be sealed to at least one public key")
    padded = pad(canonical_json({"schema": SCHEMA_VERSION, "kind": kind, "body": body}))
    return [SealedBox(PublicKey(public)).encrypt(padded) for public in public_keys]


def open_document(blob: bytes, private_key: bytes, kind: str) -> dict[str, Any]:
    """The body of a document of the expected kind, or DecryptionError: never partial data."""
    box = SealedBox(PrivateKey(private_key))
    try:
        padded = box.decrypt(blob)
    except nacl.exceptions.CryptoError:  # includes PyNaCl's TypeError for a too-short blob
        raise DecryptionError("not sealed to this key, truncated or altered") from None
    try:
        envelope = json.loads(unpad(padded).decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # bad JSON or UTF-8 are ValueErrors
        raise DecryptionError("sealed document is not valid JSON") from None
    return _body(envelope, kind)


def _body(envelope: Any, kind: str) -> dict[str, Any]:
    if not isinstance(envelope, dict) or envelope.keys() != _ENVELOPE_KEYS:
        raise DecryptionError("sealed document is not an envelope")
    schema = envelope["schema"]
    if type(schema) is not int or schema != SCHEMA_VERSION:  # type(): True == 1.0 == 1
        raise DecryptionError("unknown schema version")
    if envelope["kind"] != kind:
        raise DecryptionError(f"expected a {kind!r} document")
    body = envelope["body"]
    if not isinstance(body, dict):
        raise DecryptionError("document body is not an object")
    return body


def _nfc(value: Any) -> Any:
    """NFC everywhere, so text typed on different devices compares and hashes equal."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, Mapping):
        normalised = {_nfc(_require_str_key(key)): _nfc(item) for key, item in value.items()}
        if len(normalised) != len(value):
            raise ValueError("two keys are the same text in different Unicode forms")
        return normalised
    if isinstance(value, (list, tuple)):
        return [_nfc(item) for item in value]
    return value


def _require_str_key(key: Any) -> str:
    # json.dumps would silently turn 1 into "1"; the document would not open to what was sealed.
    if not isinstance(key, str):
        raise TypeError(f"document keys must be strings, got {type(key).__name__}")
    return key


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a sealed document")
