import hashlib
import hmac

import pytest

from crypto.chain import GENESIS, LINK_BYTES, MIN_KEY_BYTES, link, require_key

KEY = b"k" * MIN_KEY_BYTES
RECORD = {
    "id": 7,
    "occurred_at": "2026-03-02T08:15:00.123456",
    "actor_id": 3,
    "actor": "nguyen.van.a",
    "action": "case_viewed",
    "case_id": 42,
    "detail": '{"reference":"2026-00042"}',
}


def test_genesis_is_32_zero_bytes() -> None:
    assert GENESIS == bytes(32)
    assert LINK_BYTES == 32


def test_link_is_an_hmac_sha256_of_previous_and_canonical_record() -> None:
    record = {"b": 1, "a": "x"}
    expected = hmac.new(KEY, GENESIS + b'{"a":"x","b":1}', hashlib.sha256).digest()
    assert link(KEY, GENESIS, record) == expected


def test_link_is_deterministic_and_ignores_key_order() -> None:
    first = link(KEY, GENESIS, RECORD)
    assert len(first) == 32
    assert link(KEY, GENESIS, dict(reversed(list(RECORD.items())))) == first


@pytest.mark.parametrize("field", sorted(RECORD))
def test_changing_any_field_changes_the_link(field: str) -> None:
    changed = dict(RECORD)
    value = RECORD[field]
    changed[field] = value + 1 if isinstance(value, int) else value + "x"
    assert link(KEY, GENESIS, changed) != link(KEY, GENESIS, RECORD)


@pytest.mark.parametrize("field", sorted(RECORD))
def test_a_field_set_to_null_or_removed_changes_the_link(field: str) -> None:
    assert link(KEY, GENESIS, {**RECORD, field: None}) != link(KEY, GENESIS, RECORD)
    assert link(KEY, GENESIS, {k: v for k, v in RECORD.items() if k != field}) != link(KEY, GENESIS, RECORD)


def test_order_of_records_changes_the_chain() -> None:
    other = {**RECORD, "id": 8, "action": "file_decrypted"}
    one = link(KEY, link(KEY, GENESIS, RECORD), other)
    two = link(KEY, link(KEY, GENESIS, other), RECORD)
    assert one != two


def test_previous_link_changes_the_link() -> None:
    assert link(KEY, GENESIS, RECORD) != link(KEY, b"\x01" + GENESIS[1:], RECORD)


def test_key_changes_the_link() -> None:
    assert link(KEY, GENESIS, RECORD) != link(b"K" * MIN_KEY_BYTES, GENESIS, RECORD)


@pytest.mark.parametrize("length", [0, 1, 16, 31])
def test_short_key_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match=f"at least 32 bytes, got {length}"):
        link(b"k" * length, GENESIS, RECORD)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        require_key(b"k" * length)


def test_key_must_be_bytes() -> None:
    with pytest.raises(TypeError, match="bytes"):
        link("k" * 40, GENESIS, RECORD)  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_previous_link_of_wrong_length_is_refused(length: int) -> None:
    # A fixed length keeps previous || record unambiguous.
    with pytest.raises(ValueError, match=f"32 bytes, got {length}"):
        link(KEY, bytes(length), RECORD)


def test_long_keys_are_accepted() -> None:
    assert link(b"k" * 100, GENESIS, RECORD) != link(KEY, GENESIS, RECORD)


def test_canonically_equivalent_text_links_the_same() -> None:
    composed = {**RECORD, "actor": "Nguyễn"}
    decomposed = {**RECORD, "actor": "Nguyê\u0303n"}
    assert link(KEY, GENESIS, composed) == link(KEY, GENESIS, decomposed)
