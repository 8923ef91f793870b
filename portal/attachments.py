"""Evidence files: clean, seal, store and stream back, for both apps.

A file arrives as ciphertext in an EncryptedSpool (`portal.uploads`). When it is a photo or a PDF
and the person did not ask to keep the original, it is decrypted chunk by chunk, cleaned of its
metadata (`portal.scrubbing`) and encrypted again under a new key, still without touching the disk
in clear. Its key, name, type, size and SHA-256 are then sealed to the intake key and to the
reporter's key; the database holds only those sealed copies and the ciphertext chunks.

All of this happens before the caller's write transaction, which only inserts rows. Reading a file
back fetches a few chunks at a time, so neither side ever holds a whole file.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from crypto.attachments import decrypt_stream
from crypto.sealing import open_document, seal_document
from portal import scrubbing
from portal.db import Database
from portal.models import Attachment, AttachmentChunk
from portal.uploads import EncryptedSpool, Upload

FILE_KIND = "file"
# Chunks fetched per query when streaming a file back: 16 × 64 KiB = 1 MiB in memory at most.
READ_BATCH = 16
INSERT_BATCH = 16
MAX_NAME_CHARS = 200
_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
_ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class CannotClean(Exception):
    """A file claims to be a photo or a PDF but is not well formed, so its metadata cannot be removed."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class FileInfo:
    """What the sealed copy of a file says about it."""

    name: str
    media_type: str
    size: int
    sha256: str
    cleaned: bool
    key: bytes

    @property
    def safe_name(self) -> str:
        return safe_file_name(self.name)


@dataclass
class PreparedFile:
    """A file ready to insert: ciphertext in its spool, the stream header, and the sealed copies."""

    spool: EncryptedSpool
    sealed_for_intake: bytes
    sealed_for_reporter: bytes


def safe_file_name(name: str) -> str:
    """A name that is harmless anywhere it is shown or saved: no path, no control or direction-changing
    characters (the "invoice\u202egpj.exe" trick), not empty, not endless."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if unicodedata.category(char) not in {"Cf", "Cc", "Cs", "Co"})
    name = _UNSAFE_NAME_CHARS.sub("_", name).strip(" .")
    if len(name) > MAX_NAME_CHARS:
        _stem, dot, extension = name.rpartition(".")
        keep = extension[:16] if dot and len(extension) <= 16 else ""
        name = name[: MAX_NAME_CHARS - len(keep) - 1].rstrip(" .") + ("." + keep if keep else "")
    return name or "file"


def ascii_file_name(name: str) -> str:
    """The plain-ASCII fallback for `Content-Disposition`, for clients that ignore `filename*`."""
    decomposed = unicodedata.normalize("NFKD", safe_file_name(name).replace("đ", "d").replace("Đ", "D"))
    plain = _ASCII_UNSAFE.sub("_", decomposed.encode("ascii", "ignore").decode()).strip("._")
    return plain or "file"


def prepare(upload: Upload, keep_original: bool, recipients: Sequence[bytes]) -> PreparedFile:
    """Clean (unless asked not to) and seal one upload; raises CannotClean for a malformed photo or PDF."""
    if not upload.spool.finished:
        raise ValueError("the upload is not complete")
    kind = scrubbing.kind_of(upload.spool.head)
    spool = upload.spool
    cleaned = False
    if kind is not None and not keep_original:
        try:
            spool = _cleaned_copy(upload.spool, kind)
        except scrubbing.ScrubError:
            raise CannotClean(upload.name) from None
        finally:
            upload.spool.close()
        cleaned = True
    info = {
        "key": base64.b64encode(spool.key).decode(),
        "name": upload.name[:1000],
        "type": upload.declared_type[:200],
        "size": spool.size,
        "sha256": spool.sha256,
        "cleaned": cleaned,
    }
    for_intake, for_reporter = seal_document(FILE_KIND, info, list(recipients))
    return PreparedFile(spool, for_intake, for_reporter)


def prepare_all(uploads: Sequence[Upload], keep_original: bool, recipients: Sequence[bytes]) -> list[PreparedFile]:
    """Every upload prepared, or none: on CannotClean every spool is closed before it propagates."""
    prepared: list[PreparedFile] = []
    try:
        for upload in uploads:
            prepared.append(prepare(upload, keep_original, recipients))
    except BaseException:
        discard([*prepared, *uploads])
        raise
    return prepared


def _cleaned_copy(original: EncryptedSpool, kind: scrubbing.Kind) -> EncryptedSpool:
    scrubber = scrubbing.scrubber_for(kind)
    copy = EncryptedSpool()
    for piece in decrypt_stream(original.key, original.header, original.chunks()):
        copy.write(scrubber.feed(piece))
    for piece in scrubber.close():
        copy.write(piece)
    copy.finish()
    return copy


def store(
    session: Session,
    prepared: Iterable[PreparedFile],
    *,
    case_id: int,
    author: str,
    sent_on: date,
    message_id: int | None = None,
    inspector_id: int | None = None,
) -> None:
    """Insert files inside the caller's transaction, a batch of chunks per statement."""
    for file in prepared:
        attachment_id = session.execute(
            insert(Attachment)
            .values(
                case_id=case_id,
                message_id=message_id,
                author=author,
                inspector_id=inspector_id,
                sent_on=sent_on,
                stream_header=file.spool.header,
                chunk_count=file.spool.chunk_count,
                sealed_for_intake=file.sealed_for_intake,
                sealed_for_reporter=file.sealed_for_reporter,
            )
            .returning(Attachment.id)
        ).scalar_one()
        batch: list[dict[str, object]] = []
        for seq, chunk in enumerate(file.spool.chunks()):
            batch.append({"attachment_id": attachment_id, "seq": seq, "data": chunk})
            if len(batch) == INSERT_BATCH:
                session.execute(insert(AttachmentChunk), batch)
                batch = []
        if batch:
            session.execute(insert(AttachmentChunk), batch)
        file.spool.close()


def discard(prepared: Iterable[PreparedFile | Upload]) -> None:
    """Close spools that will not be stored (their temporary files vanish on close)."""
    for item in prepared:
        item.spool.close()


def open_info(sealed: bytes, private_key: bytes) -> FileInfo:
    info = open_document(sealed, private_key, FILE_KIND)
    return FileInfo(
        name=info["name"],
        media_type=info["type"],
        size=info["size"],
        sha256=info["sha256"],
        cleaned=info["cleaned"],
        key=base64.b64decode(info["key"]),
    )


def plaintext(db: Database, attachment: Attachment, info: FileInfo) -> Iterator[bytes]:
    """The file's content, verified chunk by chunk (DecryptionError at the first damaged or missing one)."""
    return decrypt_stream(info.key, attachment.stream_header, _ciphertext(db, attachment.id))


def _ciphertext(db: Database, attachment_id: int) -> Iterator[bytes]:
    """A few chunks per query, so a response streaming a large file holds no more than one batch."""
    with db.session() as session:
        next_seq = 0
        while True:
            rows = session.execute(
                select(AttachmentChunk.seq, AttachmentChunk.data)
                .where(AttachmentChunk.attachment_id == attachment_id, AttachmentChunk.seq >= next_seq)
                .order_by(AttachmentChunk.seq)
                .limit(READ_BATCH)
            ).all()
            session.rollback()  # end the read snapshot between batches; chunks never change
            if not rows:
                return
            for _seq, data in rows:
                yield data
            next_seq = rows[-1].seq + 1
