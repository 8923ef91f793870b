import json
import math
import unicodedata
from random import Random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.bindings import crypto_box_SEALBYTES
from nacl.public import PublicKey, SealedBox

from crypto.errors import DecryptionError
from crypto.keys import KeyPair, generate_keypair
from crypto.padding import pad
from crypto.sealing import SCHEMA_VERSION, canonical_json, open_document, seal_document

REPORT_TEXT = "Tố cáo cán bộ phường Ô Chợ Dừa nhận hối lộ 50 triệu đồng"
REPORT = {
    "unit": "Phường Ô Chợ Dừa",
    "text": REPORT_TEXT,
    "amount_vnd": 50_000_000,
    "evidence": ["biên lai", "ghi âm"],
    "urgent": True,
    "accused": None,
}


def nfd(value: Any) -> Any:
    """The same document as a phone keyboard that sends decomposed diacritics would type it."""
    if isinstance(value, str):
        return unicodedata.normalize("NFD", value)
    if isinstance(value, dict):
        return {nfd(key): nfd(item) for key, item in value.items()}
    if isinstance(value, list):
        return [nfd(item) for item in value]
    return value


@pytest.fixture(scope="module")
def intake() -> KeyPair:
    return generate_keypair()


@pytest.fixture(scope="module")
def sealed_report(intake: KeyPair) -> bytes:
    return seal_document("report", REPORT, [intake.public])[0]


def seal_raw(plaintext: bytes, public: bytes) -> bytes:
    """What anyone holding the (public) intake key can put in the database."""
    return SealedBox(PublicKey(public)).encrypt(plaintext)


def test_a_vietnamese_report_opens_as_sealed(intake: KeyPair, sealed_report: bytes) -> None:
    assert open_document(sealed_report, intake.private, "report") == REPORT


def test_decomposed_input_comes_back_composed(intake: KeyPair) -> None:
    typed = nfd(REPORT)
    assert typed["text"] != REPORT_TEXT
    [blob] = seal_document("report", typed, [intake.public])
    opened = open_document(blob, intake.private, "report")
    assert opened == REPORT
    assert unicodedata.is_normalized("NFC", opened["text"])


def test_every_recipient_opens_its_own_copy_only() -> None:
    recipients = [generate_keypair() for _ in range(3)]
    blobs = seal_document("message", {"text": REPORT_TEXT}, [pair.public for pair in recipients])
    assert len(blobs) == len(recipients)
    assert len(set(blobs)) == len(blobs)
    for index, pair in enumerate(recipients):
        for blob_index, blob in enumerate(blobs):
            if blob_index == index:
                assert open_document(blob, pair.private, "message") == {"text": REPORT_TEXT}
            else:
                with pytest.raises(DecryptionError):
                    open_document(blob, pair.private, "message")


def test_sealing_needs_a_recipient() -> None:
    with pytest.raises(ValueError, match="at least one"):
        seal_document("report", REPORT, [])


def test_another_private_key_cannot_open(sealed_report: bytes) -> None:
    with pytest.raises(DecryptionError):
        open_document(sealed_report, generate_keypair().private, "report")


def test_every_flipped_byte_is_detected(intake: KeyPair, sealed_report: bytes) -> None:
    for position in range(len(sealed_report)):
        altered = bytearray(sealed_report)
        altered[position] ^= 1 << (position % 8)
        with pytest.raises(DecryptionError):
            open_document(bytes(altered), intake.private, "report")


def test_every_truncation_is_detected(intake: KeyPair, sealed_report: bytes) -> None:
    for length in range(len(sealed_report)):
        with pytest.raises(DecryptionError):
            open_document(sealed_report[:length], intake.private, "report")


def test_appended_bytes_are_detected(intake: KeyPair, sealed_report: bytes) -> None:
    with pytest.raises(DecryptionError):
        open_document(sealed_report + b"\0", intake.private, "report")


def test_a_message_cannot_pass_for_a_report(intake: KeyPair) -> None:
    [message] = seal_document("message", {"text": "hello"}, [intake.public])
    with pytest.raises(DecryptionError, match="'report'"):
        open_document(message, intake.private, "report")


@pytest.mark.parametrize(
    "envelope",
    [
        {"schema": SCHEMA_VERSION + 1, "kind": "report", "body": {}},
        {"schema": True, "kind": "report", "body": {}},
        {"schema": 1.0, "kind": "report", "body": {}},
        {"schema": str(SCHEMA_VERSION), "kind": "report", "body": {}},
        {"kind": "report", "body": {}},
        {"schema": SCHEMA_VERSION, "kind": "report", "body": {}, "extra": 1},
        {"schema": SCHEMA_VERSION, "kind": "report", "body": ["not", "an", "object"]},
        {"schema": SCHEMA_VERSION, "kind": "report", "body": "text"},
    ],
)
def test_envelopes_we_never_write_are_refused(intake: KeyPair, envelope: dict[str, Any]) -> None:
    blob = seal_raw(pad(json.dumps(envelope).encode()), intake.public)
    with pytest.raises(DecryptionError):
        open_document(blob, intake.private, "report")


@pytest.mark.parametrize(
    "plaintext",
    [
        pad(b"not json"),
        pad(b"[1, 2, 3]"),
        pad('{"schema": 1, "kind": "report", "body": {"x": NaN}}'.encode()),
        pad(b'{"schema": 1, "kind": "report", "body": {"text": "\xff"}}'),  # not UTF-8
        pad(b"[" * 100_000),  # nesting deep enough to exhaust the recursion limit
        b'{"schema": 1, "kind": "report", "body": {}}',  # unpadded
    ],
)
def test_malformed_plaintext_is_refused(intake: KeyPair, plaintext: bytes) -> None:
    with pytest.raises(DecryptionError):
        open_document(seal_raw(plaintext, intake.public), intake.private, "report")


def test_same_length_bucket_gives_same_sealed_length(intake: KeyPair) -> None:
    short = seal_document("report", {"text": "a"}, [intake.public])[0]
    long = seal_document("report", {"text": "ố" * 300}, [intake.public])[0]  # 900 bytes of UTF-8
    longer = seal_document("report", {"text": "ố" * 400}, [intake.public])[0]
    assert len(short) == len(long) == 1024 + crypto_box_SEALBYTES
    assert len(longer) == 2048 + crypto_box_SEALBYTES


# Keys already in NFC, so that no two of them collide once canonical_json normalises them.
json_keys = st.text(max_size=8).map(lambda key: unicodedata.normalize("NFC", key))
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_keys, inner, max_size=3),
    max_leaves=10,
)


def shuffled(value: Any, random: Random) -> Any:
    """The same document with the keys of every object, nested ones too, in another order."""
    if isinstance(value, dict):
        items = [(key, shuffled(item, random)) for key, item in value.items()]
        random.shuffle(items)
        return dict(items)
    if isinstance(value, list):
        return [shuffled(item, random) for item in value]
    return value


@settings(max_examples=50)  # generating nested Unicode documents is what takes the time
@given(st.dictionaries(json_keys, json_values, max_size=6), st.randoms(use_true_random=False))
def test_canonical_json_ignores_key_order(document: dict[str, Any], random: Random) -> None:
    assert canonical_json(shuffled(document, random)) == canonical_json(document)


def test_canonical_json_is_compact_sorted_utf8_nfc() -> None:
    document = nfd({"b": REPORT_TEXT, "a": [1, {"d": None, "c": True}]})
    expected = '{"a":[1,{"c":true,"d":null}],"b":"' + REPORT_TEXT + '"}'
    assert canonical_json(document) == expected.encode("utf-8")


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_canonical_json_refuses_non_finite_numbers(number: float) -> None:
    with pytest.raises(ValueError):
        canonical_json({"amount": number})


def test_canonical_json_refuses_keys_that_collide_once_normalised() -> None:
    with pytest.raises(ValueError, match="Unicode"):
        canonical_json({"Dừa": 1, unicodedata.normalize("NFD", "Dừa"): 2})


def test_canonical_json_refuses_non_string_keys() -> None:
    with pytest.raises(TypeError):
        canonical_json({1: "one"})  # type: ignore[dict-item]
