"""Uploads parsed straight into ciphertext: no plaintext byte of a file ever reaches the disk.

werkzeug hands each file part of a multipart body, piece by piece as it parses, to the object its
stream factory returns. Ours encrypts every piece under a fresh file key (`crypto.attachments`)
and spools only ciphertext to an anonymous temporary file, so memory stays at about one chunk per
file whatever its size, and a crash leaves nothing readable behind (the key only ever lived in
memory).

Limits are counted as the bytes arrive. A file past its limit is not an error that aborts the
request: its remaining bytes are read and dropped, the rest of the form still arrives, and the
view shows the page again with everything typed kept and a message naming the file. Only a body
beyond the hard ceiling (twice the per-submission limit) is refused before it is read.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar

from flask import Flask, Request, current_app
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.formparser import FormDataParser, MultiPartParser

from crypto.attachments import CHUNK_BYTES, OVERHEAD_BYTES, StreamEncryptor, new_file_key
from portal.settings import MIB

# Room for the form's own text fields beside the files.
FORM_TEXT_ALLOWANCE = MIB
_SNIFF_BYTES = 16
PARSE_BUFFER_BYTES = 512 * 1024

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Limits:
    file_bytes: int
    submission_bytes: int

    @property
    def request_bytes(self) -> int:
        """The hard ceiling: up to here an over-limit submission still comes back with its text."""
        return 2 * self.submission_bytes + FORM_TEXT_ALLOWANCE

    def in_megabytes(self) -> dict[str, int]:
        return {"file": self.file_bytes // MIB, "total": self.submission_bytes // MIB}

    @classmethod
    def of(cls, app: Flask) -> Limits:
        return cls(app.config["ATTACHMENT_FILE_BYTES"], app.config["ATTACHMENT_SUBMISSION_BYTES"])


@dataclass
class Budget:
    """The bytes one request may still store; shared by every file of the request."""

    limits: Limits
    remaining: int = field(init=False)

    def __post_init__(self) -> None:
        self.remaining = self.limits.submission_bytes


class EncryptedSpool:
    """What werkzeug writes one uploaded file into: its ciphertext, in an unlinked temporary file.

    Besides the ciphertext it keeps the file key, the plaintext's size and SHA-256, and the first
    bytes (to tell a photo or a PDF by its content). `over_limit` names the limit a file broke.
    """

    def __init__(self, budget: Budget | None = None) -> None:
        self.key = new_file_key()
        self._encryptor = StreamEncryptor(self.key)
        self._budget = budget
        self._file: IO[bytes] | None = None
        self._digest = hashlib.sha256()
        self.size = 0
        self.chunk_count = 0
        self.head = b""
        self.over_limit: str | None = None  # "file" or "submission"
        self.finished = False

    @property
    def header(self) -> bytes:
        return self._encryptor.header

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def write(self, data: bytes) -> int:
        if self.over_limit is None:
            self._take(data)
        return len(data)

    def _take(self, data: bytes) -> None:
        self.size += len(data)
        if self._budget is not None:
            self._budget.remaining -= len(data)
            if self.size > self._budget.limits.file_bytes:
                self._refuse("file")
                return
            if self._budget.remaining < 0:
                self._refuse("submission")
                return
        self._digest.update(data)
        if len(self.head) < _SNIFF_BYTES:
            self.head += data[: _SNIFF_BYTES - len(self.head)]
        for chunk in self._encryptor.push(data):
            self._store(chunk)

    def _refuse(self, limit: str) -> None:
        """Drop what was stored: nothing of an over-limit file is kept, and its budget is given back."""
        self.over_limit = limit
        if self._budget is not None:
            self._budget.remaining += self.size
        self.close()

    def _store(self, chunk: bytes) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="portal-upload-")
        self._file.write(chunk)
        self.chunk_count += 1

    def finish(self) -> None:
        """The part is complete: write the FINAL chunk."""
        if self.finished or self.over_limit is not None:
            return
        self._store(self._encryptor.close())
        self.finished = True

    def seek(self, offset: int, whence: int = 0) -> int:
        """werkzeug calls `seek(0)` when a part is complete, before wrapping it in a FileStorage."""
        self.finish()
        return 0

    def chunks(self) -> Iterator[bytes]:
        """The ciphertext chunks in order (every chunk but the last has the same size)."""
        if not self.finished or self._file is None:
            raise ValueError("the file is not complete")
        self._file.seek(0)
        while chunk := self._file.read(CHUNK_BYTES + OVERHEAD_BYTES):
            yield chunk

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class _UploadFormParser(FormDataParser):
    """werkzeug's parser with larger reads: at its default 64 KiB, reading the body costs a quarter of an
    upload's time (docs/BENCHMARKS.md). Kept below MAX_FORM_MEMORY_SIZE, which also bounds one read."""

    def _parse_multipart(
        self, stream: IO[bytes], mimetype: str, content_length: int | None, options: dict[str, str]
    ) -> tuple[IO[bytes], MultiDict[str, str], MultiDict[str, FileStorage]]:
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        parser = MultiPartParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
            buffer_size=PARSE_BUFFER_BYTES,
        )
        form, files = parser.parse(stream, boundary, content_length)
        return stream, form, files


class UploadRequest(Request):
    """The request class of both apps: every uploaded file goes through an EncryptedSpool, and only
    views marked `accepts_files` may receive a body larger than MAX_CONTENT_LENGTH."""

    form_data_parser_class = _UploadFormParser
    _budget: Budget | None = None

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if self._budget is None:
            self._budget = Budget(Limits.of(current_app))
        return EncryptedSpool(self._budget)  # type: ignore[return-value]

    @property
    def max_content_length(self) -> int | None:
        if self._takes_files():
            return Limits.of(current_app).request_bytes
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    def _takes_files(self) -> bool:
        if self.mimetype != "multipart/form-data" or not current_app:
            return False
        view = current_app.view_functions.get(self.endpoint or "")
        return bool(getattr(view, "accepts_files", False))


def accepts_files(view: View) -> View:
    """Mark a view that takes evidence files: its requests may be as large as the upload limits."""
    view.accepts_files = True  # type: ignore[attr-defined]
    return view


@dataclass(frozen=True)
class Upload:
    """One file as the person sent it: its ciphertext spool, and the name and type their browser gave."""

    spool: EncryptedSpool
    name: str
    declared_type: str


def uploads_in(field_name: str, storages: list[FileStorage]) -> list[Upload]:
    """The files sent in one form field; the empty part a browser sends when no file was chosen is skipped."""
    found = []
    for storage in storages:
        if not isinstance(storage, FileStorage):
            raise TypeError(f"{field_name} must be a file field")
        if not isinstance(storage.stream, EncryptedSpool):
            raise TypeError("uploads must be parsed by UploadRequest")
        if not storage.filename and storage.stream.size == 0:
            continue
        found.append(Upload(storage.stream, storage.filename or "", storage.mimetype or "application/octet-stream"))
    return found
