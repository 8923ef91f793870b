"""Backup archives: a byte-exact round trip whatever the sizes, nothing readable without the private key,
every damage refused, and a private key that survives being copied onto paper and typed back."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.archives import (
    NotAnArchive,
    WrongArchiveKey,
    decrypt_archive,
    encrypt_archive,
    format_private_key,
    parse_private_key,
)
from crypto.attachments import CHUNK_BYTES, HEADER_BYTES, OVERHEAD_BYTES
from crypto.codes import ALPHABET
from crypto.errors import DecryptionError
from crypto.keys import generate_keypair, key_id

KEYS = generate_keypair()


def archive_of(data: bytes, pieces: int = 1) -> bytes:
    step = max(1, -(-len(data) // pieces))
    return b"".join(encrypt_archive(KEYS.public, [data[start : start + step] for start in range(0, len(data), step)]))


def opened(archive: bytes, piece_size: int = 1 << 20, private: bytes = KEYS.private) -> bytes:
    pieces = (archive[start : start + piece_size] for start in range(0, len(archive), piece_size))
    return b"".join(decrypt_archive(private, pieces))


@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 17])
def test_round_trip_is_byte_exact_at_every_boundary(size: int) -> None:
    data = os.urandom(size)
    assert opened(archive_of(data)) == data


@settings(max_examples=40, deadline=None)
@given(
    data=st.binary(max_size=3 * CHUNK_BYTES + 100),
    pieces=st.integers(min_value=1, max_value=9),
    piece_size=st.integers(min_value=1, max_value=2 * (CHUNK_BYTES + OVERHEAD_BYTES)),
)
def test_the_archive_opens_whatever_pieces_it_was_written_and_read_in(
    data: bytes, pieces: int, piece_size: int
) -> None:
    assert opened(archive_of(data, pieces), piece_size) == data


def test_nothing_of_the_content_or_its_key_is_in_clear() -> None:
    marker = b"Nguyen Van A, 0912 345 678, reported the chairman" * 2000
    first, second = archive_of(marker), archive_of(marker)
    assert b"Nguyen Van A" not in first and b"0912" not in first
    assert first != second  # a fresh file key each time: equal contents do not show as equal archives
    assert first[:8] == b"PORTALBK"
    assert key_id(KEYS.public).encode() in first[:32]  # the key an archive needs is named, not secret


def test_a_large_stream_is_encrypted_and_opened_one_chunk_at_a_time() -> None:
    """64 MiB made lazily: if either side held it whole, this would build 64 MiB strings."""
    total = 1024 * CHUNK_BYTES

    def content() -> Iterator[bytes]:
        for _ in range(total // CHUNK_BYTES):
            yield bytes(CHUNK_BYTES)

    largest = size = 0
    for piece in decrypt_archive(KEYS.private, encrypt_archive(KEYS.public, content())):
        largest, size = max(largest, len(piece)), size + len(piece)
    assert size == total and largest == CHUNK_BYTES


DAMAGE_DATA = os.urandom(2 * CHUNK_BYTES + 500)  # two full chunks and a last one of 500 bytes
DAMAGE_ARCHIVE = archive_of(DAMAGE_DATA)
FRAME = CHUNK_BYTES + OVERHEAD_BYTES
# Where the first ciphertext chunk starts: after the clear fields, the sealed file key and the stream header.
CHUNKS_AT = len(DAMAGE_ARCHIVE) - 2 * FRAME - (500 + OVERHEAD_BYTES)
STREAM_HEADER_AT = CHUNKS_AT - HEADER_BYTES


@settings(max_examples=200, deadline=None)
@given(position=st.integers(min_value=0, max_value=len(DAMAGE_ARCHIVE) - 1), bit=st.integers(0, 7))
def test_a_flipped_bit_anywhere_is_refused(position: int, bit: int) -> None:
    damaged = bytearray(DAMAGE_ARCHIVE)
    damaged[position] ^= 1 << bit
    with pytest.raises(DecryptionError):
        opened(bytes(damaged))


@settings(max_examples=200, deadline=None)
@given(length=st.integers(min_value=0, max_value=len(DAMAGE_ARCHIVE) - 1))
def test_an_archive_cut_anywhere_is_refused(length: int) -> None:
    with pytest.raises(DecryptionError):
        opened(DAMAGE_ARCHIVE[:length])


@pytest.mark.parametrize("chunks", [0, 1, 2])
def test_a_cut_at_a_chunk_boundary_is_refused(chunks: int) -> None:
    """Every chunk kept is authentic: only the missing FINAL tag shows the cut."""
    with pytest.raises(DecryptionError, match="cut short"):
        opened(DAMAGE_ARCHIVE[: CHUNKS_AT + chunks * FRAME])


@pytest.mark.parametrize("extra", [1, FRAME, 2 * FRAME + 3])
def test_data_after_the_end_is_refused(extra: int) -> None:
    with pytest.raises(DecryptionError):
        opened(DAMAGE_ARCHIVE + os.urandom(extra))
    full = archive_of(os.urandom(2 * CHUNK_BYTES))  # its last chunk is a full frame: what follows is one more
    with pytest.raises(DecryptionError, match="after the end"):
        opened(full + os.urandom(extra))


def test_chunks_in_another_order_are_refused() -> None:
    head, one, two, rest = (
        DAMAGE_ARCHIVE[:CHUNKS_AT],
        DAMAGE_ARCHIVE[CHUNKS_AT : CHUNKS_AT + FRAME],
        DAMAGE_ARCHIVE[CHUNKS_AT + FRAME : CHUNKS_AT + 2 * FRAME],
        DAMAGE_ARCHIVE[CHUNKS_AT + 2 * FRAME :],
    )
    assert opened(head + one + two + rest) == DAMAGE_DATA  # the slicing is right
    with pytest.raises(DecryptionError, match="altered, moved"):
        opened(head + two + one + rest)


@pytest.mark.parametrize("spliced_at", [STREAM_HEADER_AT, CHUNKS_AT])
def test_the_content_of_one_archive_under_the_header_of_another_is_refused(spliced_at: int) -> None:
    """Two archives of the same data for the same key: same layout, different file keys."""
    other = archive_of(DAMAGE_DATA)
    assert len(other) == len(DAMAGE_ARCHIVE) and opened(other) == DAMAGE_DATA
    with pytest.raises(DecryptionError, match="altered, moved"):
        opened(DAMAGE_ARCHIVE[:spliced_at] + other[spliced_at:])


def test_the_wrong_private_key_is_named_with_both_key_ids() -> None:
    stranger = generate_keypair()
    with pytest.raises(WrongArchiveKey) as refused:
        opened(DAMAGE_ARCHIVE, private=stranger.private)
    assert refused.value.archive_key_id == key_id(KEYS.public)
    assert refused.value.given_key_id == key_id(stranger.public)


@pytest.mark.parametrize("data", [b"", b"PORTALB", b"SQLite format 3\x00" + bytes(200), b"PORTALBK\x02" + bytes(200)])
def test_what_is_not_an_archive_says_so(data: bytes) -> None:
    with pytest.raises(NotAnArchive):
        opened(data)


def test_the_private_key_survives_paper() -> None:
    text = format_private_key(KEYS.private)
    groups = text.split("-")
    assert len(groups) == 11 and all(len(group) == 5 for group in groups)
    assert set(text) <= set(ALPHABET) | {"-"}
    retyped = text.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert parse_private_key(retyped) == parse_private_key(text) == KEYS.private


def test_every_mistyped_character_and_swap_of_neighbours_is_caught() -> None:
    """All 55 × 31 one-character typos and all 54 swaps of a fixed key (the check is 15 bits of a hash: a
    random key could, once in 2**15 typos, let one through as a different key, told apart at restore)."""
    code = format_private_key(bytes(range(32))).replace("-", "")
    typos = [code[:at] + char + code[at + 1 :] for at in range(len(code)) for char in ALPHABET if char != code[at]]
    swaps = [code[:at] + code[at + 1] + code[at] + code[at + 2 :] for at in range(len(code) - 1)]
    assert len(typos) == 55 * 31
    for typo in typos + [swap for swap in swaps if swap != code]:
        with pytest.raises(ValueError, match="mistyped"):
            parse_private_key(typo)


@pytest.mark.parametrize("text", ["", "ABCDE", "U" * 55, format_private_key(KEYS.private) + "A"])
def test_what_is_not_a_private_key_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is 55 characters"):
        parse_private_key(text)
