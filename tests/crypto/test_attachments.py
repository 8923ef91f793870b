"""Streamed file encryption: byte-exact round trips at every chunk boundary, constant memory, and
every way of damaging a stream refused."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import pytest

from crypto.attachments import (
    CHUNK_BYTES,
    HEADER_BYTES,
    BLOCK_OVERHEAD_BYTES,
    OVERHEAD_BYTES,
    StreamEncryptor,
    decrypt_stream,
    encrypt_stream,
    new_file_key,
    open_block,
    seal_block,
)
from crypto.errors import DecryptionError


def encrypt(key: bytes, data: bytes) -> tuple[bytes, list[bytes]]:
    header, *chunks = encrypt_stream(key, [data])
    return header, chunks


def decrypt(key: bytes, header: bytes, chunks: list[bytes]) -> bytes:
    return b"".join(decrypt_stream(key, header, chunks))


@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 17])
def test_round_trip_is_byte_exact_at_every_boundary(size: int) -> None:
    key, data = new_file_key(), os.urandom(size)
    header, chunks = encrypt(key, data)
    assert len(header) == HEADER_BYTES
    assert len(chunks) == max(1, -(-size // CHUNK_BYTES))
    assert all(len(chunk) <= CHUNK_BYTES + OVERHEAD_BYTES for chunk in chunks)
    assert decrypt(key, header, chunks) == data


def test_pieces_of_any_size_give_the_same_fixed_chunks() -> None:
    """An upload arrives in whatever pieces the network gives; the chunks must not depend on them."""
    key = new_file_key()
    data = os.urandom(3 * CHUNK_BYTES + 5)
    pieces = [data[:10], data[10 : CHUNK_BYTES + 15], b"", data[CHUNK_BYTES + 15 :]]
    header, *chunks = encrypt_stream(key, pieces)
    assert [len(chunk) - OVERHEAD_BYTES for chunk in chunks] == [CHUNK_BYTES] * 3 + [5]
    assert decrypt(key, header, chunks) == data


def test_a_large_stream_is_handled_one_chunk_at_a_time() -> None:
    """A 64 MiB file made lazily: if either side held it whole, this would build 64 MiB strings."""
    key = new_file_key()
    total = 1024 * CHUNK_BYTES
    pulled = 0

    def source() -> Iterator[bytes]:
        nonlocal pulled
        for number in range(1024):
            pulled += 1
            yield number.to_bytes(4, "big") * (CHUNK_BYTES // 4)

    stream = encrypt_stream(key, source())
    header = next(stream)
    digest, seen = hashlib.sha256(), 0
    for plain in decrypt_stream(key, header, stream):
        assert pulled - seen // CHUNK_BYTES <= 2  # the encryptor runs at most one chunk ahead
        digest.update(plain)
        seen += len(plain)
    expected = hashlib.sha256()
    for number in range(1024):
        expected.update(number.to_bytes(4, "big") * (CHUNK_BYTES // 4))
    assert seen == total and digest.digest() == expected.digest()


def test_every_flipped_byte_is_detected() -> None:
    key = new_file_key()
    header, chunks = encrypt(key, os.urandom(2 * CHUNK_BYTES + 10))
    for index, chunk in enumerate(chunks):
        for position in (0, len(chunk) // 2, len(chunk) - 1):
            damaged = bytearray(chunk)
            damaged[position] ^= 0x01
            altered = [*chunks[:index], bytes(damaged), *chunks[index + 1 :]]
            with pytest.raises(DecryptionError):
                decrypt(key, header, altered)


def test_a_cut_stream_is_detected_even_at_a_chunk_boundary() -> None:
    key = new_file_key()
    header, chunks = encrypt(key, os.urandom(3 * CHUNK_BYTES))
    for kept in range(len(chunks)):
        with pytest.raises(DecryptionError, match="cut short"):
            decrypt(key, header, chunks[:kept])


def test_reordered_repeated_or_foreign_chunks_are_detected() -> None:
    key = new_file_key()
    header, chunks = encrypt(key, os.urandom(3 * CHUNK_BYTES))
    other_header, other_chunks = encrypt(key, os.urandom(3 * CHUNK_BYTES))  # same key, another file
    for damaged in (
        [chunks[1], chunks[0], chunks[2]],
        [chunks[0], chunks[0], chunks[1], chunks[2]],
        [chunks[0], other_chunks[1], chunks[2]],
    ):
        with pytest.raises(DecryptionError):
            decrypt(key, header, damaged)
    with pytest.raises(DecryptionError):
        decrypt(key, other_header, chunks)


def test_data_after_the_end_is_refused() -> None:
    key = new_file_key()
    header, chunks = encrypt(key, b"short file")
    with pytest.raises(DecryptionError, match="after the end"):
        decrypt(key, header, [*chunks, chunks[-1]])


def test_wrong_key_or_malformed_header_opens_nothing() -> None:
    key = new_file_key()
    header, chunks = encrypt(key, b"evidence")
    with pytest.raises(DecryptionError):
        decrypt(new_file_key(), header, chunks)
    with pytest.raises(DecryptionError):
        decrypt(key, header[:-1], chunks)
    with pytest.raises(ValueError):
        list(encrypt_stream(b"short", [b"x"]))


def test_nothing_unverified_is_yielded_and_the_ciphertext_hides_the_plaintext() -> None:
    key = new_file_key()
    marker = b"UNIQUE-MARKER-" * 100
    header, chunks = encrypt(key, marker)
    assert marker[:32] not in header + b"".join(chunks)
    damaged = [chunks[0][:-1] + bytes([chunks[0][-1] ^ 1])]
    stream = decrypt_stream(key, header, damaged)
    with pytest.raises(DecryptionError):
        next(stream)


def test_a_closed_encryptor_takes_nothing_more() -> None:
    encryptor = StreamEncryptor(new_file_key())
    encryptor.close()
    with pytest.raises(ValueError):
        list(encryptor.push(b"late"))
    with pytest.raises(ValueError):
        encryptor.close()


def test_blocks_open_only_with_their_key_and_number() -> None:
    key = new_file_key()
    sealed = seal_block(key, 7, b"page of a contract")
    assert len(sealed) == len(b"page of a contract") + BLOCK_OVERHEAD_BYTES
    assert b"contract" not in sealed
    assert open_block(key, 7, sealed) == b"page of a contract"
    for wrong_key, index, data in ((new_file_key(), 7, sealed), (key, 8, sealed), (key, 7, sealed[:-1] + b"\0")):
        with pytest.raises(DecryptionError):
            open_block(wrong_key, index, data)
