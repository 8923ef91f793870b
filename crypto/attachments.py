"""Files encrypted as they stream: libsodium's secretstream (XChaCha20-Poly1305) in fixed chunks.

Each file gets its own random key; the stream is a 24-byte header followed by one authenticated
ciphertext per chunk, the last one tagged FINAL. Memory stays at one chunk whatever the file's size.
Decryption refuses, before yielding anything unverified, a chunk that was altered, moved, or taken
from another file, and a stream that was cut short or has data after its end. The file key, name
and type travel separately, sealed to the intake and reporter keys (see `crypto/sealing.py`).
"""

from collections.abc import Iterable, Iterator

import nacl.exceptions
import nacl.utils
from nacl import bindings

from .errors import DecryptionError

CHUNK_BYTES = 64 * 1024
KEY_BYTES = bindings.crypto_secretstream_xchacha20poly1305_KEYBYTES
HEADER_BYTES = bindings.crypto_secretstream_xchacha20poly1305_HEADERBYTES
# What encryption adds to every chunk: the tag byte and the Poly1305 MAC.
OVERHEAD_BYTES = bindings.crypto_secretstream_xchacha20poly1305_ABYTES
_MESSAGE = bindings.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_FINAL = bindings.crypto_secretstream_xchacha20poly1305_TAG_FINAL


def new_file_key() -> bytes:
    return nacl.utils.random(KEY_BYTES)


class StreamEncryptor:
    """Push-style encryption for data that arrives in pieces (an upload parser's writes): the header
    first, then fixed-size ciphertext chunks as soon as they are full, the last one at `close()`.

    A full chunk is held back until more data arrives, because only then is it known not to be the
    last one, which must carry the FINAL tag.
    """

    def __init__(self, key: bytes) -> None:
        _require_key(key)
        self._state = bindings.crypto_secretstream_xchacha20poly1305_state()
        self.header: bytes = bindings.crypto_secretstream_xchacha20poly1305_init_push(self._state, key)
        self._buffer = bytearray()
        self._closed = False

    def push(self, data: bytes) -> Iterator[bytes]:
        if self._closed:
            raise ValueError("the stream is closed")
        self._buffer += data
        while len(self._buffer) > CHUNK_BYTES:
            chunk = bytes(self._buffer[:CHUNK_BYTES])
            del self._buffer[:CHUNK_BYTES]
            yield bindings.crypto_secretstream_xchacha20poly1305_push(self._state, chunk, None, _MESSAGE)

    def close(self) -> bytes:
        """The FINAL chunk: what is left (an empty file is one empty FINAL chunk)."""
        if self._closed:
            raise ValueError("the stream is closed")
        self._closed = True
        chunk = bytes(self._buffer)
        self._buffer.clear()
        return bindings.crypto_secretstream_xchacha20poly1305_push(self._state, chunk, None, _FINAL)


def encrypt_stream(key: bytes, plaintext: Iterable[bytes]) -> Iterator[bytes]:
    """The header, then one ciphertext per CHUNK_BYTES of `plaintext` (pieces of any size); the last
    is tagged FINAL, so an empty file is a header and one empty FINAL chunk."""
    encryptor = StreamEncryptor(key)
    yield encryptor.header
    for piece in plaintext:
        yield from encryptor.push(piece)
    yield encryptor.close()


def decrypt_stream(key: bytes, header: bytes, ciphertext: Iterable[bytes]) -> Iterator[bytes]:
    """Plaintext chunks, each verified before it is yielded; DecryptionError at the first fault.

    A caller streaming to a person must treat an exception mid-way as a failed download: what was
    sent before it was authentic, but the file is incomplete.
    """
    _require_key(key)
    if len(header) != HEADER_BYTES:
        raise DecryptionError("file header has the wrong length")
    state = bindings.crypto_secretstream_xchacha20poly1305_state()
    try:
        bindings.crypto_secretstream_xchacha20poly1305_init_pull(state, header, key)
    except nacl.exceptions.CryptoError:
        raise DecryptionError("file header is not valid") from None
    finished = False
    for chunk in ciphertext:
        if finished:
            raise DecryptionError("data after the end of the file")
        if len(chunk) > CHUNK_BYTES + OVERHEAD_BYTES:
            raise DecryptionError("a chunk is larger than any this stream writes")
        try:
            plain, tag = bindings.crypto_secretstream_xchacha20poly1305_pull(state, chunk, None)
        except (nacl.exceptions.CryptoError, ValueError):
            raise DecryptionError("a chunk was altered, moved, or is from another file") from None
        finished = tag == _FINAL
        yield plain
    if not finished:
        raise DecryptionError("the file was cut short")


# Random-access blocks, for temporary spools a parser must read out of order (a PDF's cross-reference
# table sits at its end). The key is fresh for every spool, so the block number is a unique nonce.
BLOCK_OVERHEAD_BYTES = bindings.crypto_aead_xchacha20poly1305_ietf_ABYTES
_NONCE_BYTES = bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES


def seal_block(key: bytes, index: int, plaintext: bytes) -> bytes:
    _require_key(key)
    return bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, None, _block_nonce(index), key)


def open_block(key: bytes, index: int, ciphertext: bytes) -> bytes:
    """A block's plaintext; DecryptionError if it was altered or is not block `index` of this key."""
    _require_key(key)
    try:
        return bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, None, _block_nonce(index), key)
    except nacl.exceptions.CryptoError:
        raise DecryptionError("a block was altered or moved") from None


def _block_nonce(index: int) -> bytes:
    if index < 0:
        raise ValueError("block numbers start at 0")
    return index.to_bytes(_NONCE_BYTES, "big")


def _require_key(key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError(f"a file key must be {KEY_BYTES} bytes, got {len(key)}")
