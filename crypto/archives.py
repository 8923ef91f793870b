"""Backup archives: a stream of any length encrypted to a backup public key, in constant memory.

The server that makes backups holds only the backup PUBLIC key, so neither it nor a thief of its
disk can open an archive; the private key is kept offline and typed back only to restore.

Layout (integers big-endian):

    magic            8 bytes, b"PORTALBK"
    format version   1 byte, currently 1
    backup key id    16 ASCII bytes, `crypto.keys.key_id` of the public key (for the error message
                     that names the key an archive needs)
    sealed length    2 bytes
    sealed file key  a `crypto.sealing` document of kind "backup_archive", sealed to the public key
    the content      `crypto.attachments` secretstream: its header, then chunks of CHUNK_BYTES of
                     plaintext, the last one tagged FINAL

Each ciphertext chunk but the last is exactly CHUNK_BYTES + OVERHEAD_BYTES long, so the archive needs
no framing of its own. The secretstream refuses an altered, reordered, cut or extended stream; the
clear fields are checked against the only values they may hold. An archive proves that it was made
with the backup public key, not by whom: the public key is not a secret.
"""

import base64
import hashlib
import struct
from collections.abc import Iterable, Iterator

from .attachments import CHUNK_BYTES, HEADER_BYTES, OVERHEAD_BYTES, decrypt_stream, encrypt_stream, new_file_key
from .attachments import KEY_BYTES as FILE_KEY_BYTES
from .codes import ALPHABET, group, normalise_code
from .errors import DecryptionError
from .keys import KEY_BYTES, KeyPair, key_id
from .sealing import open_document, seal_document

MAGIC = b"PORTALBK"
FORMAT_VERSION = 1
_PREFIX = struct.Struct(">8sB16sH")
_KIND = "backup_archive"
_FRAME_BYTES = CHUNK_BYTES + OVERHEAD_BYTES

# The private key as people copy it onto paper: Crockford base32 of the 32 bytes (52 characters), then
# 3 check characters (15 bits of a hash of those 52), in groups of 5.
_KEY_CHARACTERS = 52
_CHECK_CHARACTERS = 3
_GROUP = 5
_RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_CROCKFORD = str.maketrans(_RFC4648, ALPHABET)
_FROM_CROCKFORD = str.maketrans(ALPHABET, _RFC4648)


class NotAnArchive(DecryptionError):
    """The data does not start like a backup archive of a format this code reads."""


class WrongArchiveKey(DecryptionError):
    """The private key is not the one the archive was made for; both key ids are named."""

    def __init__(self, archive_key_id: str, given_key_id: str) -> None:
        super().__init__(f"the archive was made for backup key {archive_key_id}, not for key {given_key_id}")
        self.archive_key_id = archive_key_id
        self.given_key_id = given_key_id


def encrypt_archive(public_key: bytes, plaintext: Iterable[bytes]) -> Iterator[bytes]:
    """The header, then ciphertext chunks as `plaintext` (pieces of any size) arrives."""
    file_key = new_file_key()
    (sealed,) = seal_document(_KIND, {"file_key": base64.b64encode(file_key).decode("ascii")}, [public_key])
    yield _PREFIX.pack(MAGIC, FORMAT_VERSION, key_id(public_key).encode("ascii"), len(sealed)) + sealed
    yield from encrypt_stream(file_key, plaintext)


def decrypt_archive(private_key: bytes, archive: Iterable[bytes]) -> Iterator[bytes]:
    """Plaintext chunks, each verified before it is yielded; the generator ends only after the FINAL
    chunk was verified, so a caller must consume it to the end before trusting the whole.

    `archive` is the archive's bytes in pieces of any size (file reads). Raises NotAnArchive,
    WrongArchiveKey, or DecryptionError for anything altered, reordered, cut short or extended.
    """
    reader = _Reader(archive)
    prefix = reader.read(_PREFIX.size)
    if len(prefix) < _PREFIX.size:
        raise NotAnArchive("too short to be a backup archive")
    magic, version, archive_key_id, sealed_length = _PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise NotAnArchive("not a backup archive")
    if version != FORMAT_VERSION:
        raise NotAnArchive(f"archive format {version} is not one this version reads")
    file_key = _open_file_key(reader.read(sealed_length), private_key, archive_key_id)
    stream_header = reader.read(HEADER_BYTES)
    yield from decrypt_stream(file_key, stream_header, iter(lambda: reader.read(_FRAME_BYTES), b""))


def format_private_key(private_key: bytes) -> str:
    """The form printed once by `backup keygen`: 11 groups of 5 characters, typo-checked."""
    if len(private_key) != KEY_BYTES:
        raise ValueError(f"a private key is {KEY_BYTES} bytes, got {len(private_key)}")
    text = base64.b32encode(private_key).decode("ascii").rstrip("=").translate(_TO_CROCKFORD)
    return group(text + _check_characters(text), _GROUP)


def parse_private_key(text: str) -> bytes:
    """The key as retyped from paper (spaces, dashes, case and O/0, I/L/1 mix-ups forgiven); ValueError
    when a character is wrong, so a typing mistake is told apart from a wrong key."""
    code = normalise_code(text)
    if len(code) != _KEY_CHARACTERS + _CHECK_CHARACTERS or not all(char in ALPHABET for char in code):
        raise ValueError(f"a backup private key is {_KEY_CHARACTERS + _CHECK_CHARACTERS} characters of {ALPHABET}")
    body, check = code[:_KEY_CHARACTERS], code[_KEY_CHARACTERS:]
    if _check_characters(body) != check:
        raise ValueError("the check characters do not match: a character was mistyped")
    # The 4 bits past the key in the last character are zero in every key this module printed, and
    # the check characters cover the text itself, so one key has exactly one accepted spelling.
    return base64.b32decode(body.translate(_FROM_CROCKFORD) + "====")


def _check_characters(body: str) -> str:
    digest = int.from_bytes(hashlib.sha256(b"backup-private-key:" + body.encode("ascii")).digest()[:2], "big")
    return "".join(ALPHABET[(digest >> shift) & 31] for shift in (11, 6, 1))


def _open_file_key(sealed: bytes, private_key: bytes, archive_key_id: bytes) -> bytes:
    given_key_id = key_id(KeyPair.from_private(private_key).public)
    try:
        body = open_document(sealed, private_key, _KIND)
    except DecryptionError:
        if archive_key_id != given_key_id.encode("ascii"):
            raise WrongArchiveKey(archive_key_id.decode("ascii", "replace"), given_key_id) from None
        raise DecryptionError("the archive's header was altered or cut") from None
    if archive_key_id != given_key_id.encode("ascii"):  # opened, yet the clear key id was changed
        raise DecryptionError("the archive's header was altered")
    try:
        file_key = base64.b64decode(body["file_key"], validate=True)
    except (KeyError, TypeError, ValueError):
        raise DecryptionError("the archive's file key is malformed") from None
    if len(file_key) != FILE_KEY_BYTES:
        raise DecryptionError("the archive's file key has the wrong length")
    return file_key


class _Reader:
    """Exact-size reads over pieces of any size: at most one piece beyond the bytes asked for is held."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        self._buffer = bytearray()

    def read(self, size: int) -> bytes:
        """`size` bytes, fewer only at the end of the data."""
        while len(self._buffer) < size:
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._buffer += piece
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data
