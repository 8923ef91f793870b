"""A whole case as one ZIP, for handing it over to another body (a transfer, the police, a court).

Only a lead may export, and the export is audited before a byte leaves (`casework.open_for_export`). The archive holds the
report, the timeline with messages and notes, every file with its SHA-256, and the reporter's
identity only if a lead has already revealed it. It is written as a stream: files are decrypted a
batch of chunks at a time straight into the ZIP (stored, not recompressed: evidence is usually
compressed already), so an export of hundreds of megabytes uses the memory of one batch.
"""

from __future__ import annotations

import textwrap
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.keys import KeyPair
from portal import attachments, casework
from portal.casework import CaseFile, Context
from portal.models import Attachment


@dataclass(frozen=True)
class Entry:
    """One member of the archive: a path inside it, the day it is dated, and its content in pieces."""

    path: str
    on: date
    content: Callable[[], Iterable[bytes]]
    compress: bool = True


def export_case(
    ctx: Context,
    session: Session,
    case_id: int,
    keyring: Mapping[str, KeyPair],
    texts: Callable[[CaseFile], list[tuple[str, str]]],
) -> tuple[CaseFile, Iterator[bytes]]:
    """The opened case and its archive as a stream. `texts` renders the readable documents (report,
    timeline, identity) in the lead's language: the web layer owns the wording, this module the rules."""
    opened = casework.open_for_export(ctx, session, case_id, keyring)
    entries = [Entry(name, ctx.today, _constant(text.encode())) for name, text in texts(opened)]
    rows = {row.id: row for row in session.scalars(select(Attachment).where(Attachment.case_id == case_id))}
    for number, file in enumerate(opened.all_files, start=1):
        row = rows[file.id]
        entries.append(
            Entry(
                f"files/{number:03d}-{file.info.safe_name}",
                file.sent_on,
                _file_content(ctx, row, file.info),
                compress=False,
            )
        )
    return opened, zip_stream(entries)


def quoted(text: str) -> str:
    """Text someone else wrote, as a block the document's own lines cannot be mistaken for: every line
    indented (a report cannot forge a section or a timeline entry), and invisible formatting characters
    (direction overrides, zero-width spaces) shown by their code point instead of acting on the page."""
    visible = "".join(f"<U+{ord(char):04X}>" if unicodedata.category(char) == "Cf" else char for char in text)
    return textwrap.indent(visible, "    ", lambda _line: True)


def _constant(data: bytes) -> Callable[[], Iterable[bytes]]:
    return lambda: [data]


def _file_content(ctx: Context, row: Attachment, info: attachments.FileInfo) -> Callable[[], Iterable[bytes]]:
    return lambda: attachments.plaintext(ctx.db, row, info)


class _Pipe:
    """An unseekable sink for ZipFile: what it writes is collected and handed on after each piece."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def write(self, data: bytes) -> int:
        self._pending += data
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = bytes(self._pending)
        self._pending.clear()
        return data


def zip_stream(entries: Iterable[Entry]) -> Iterator[bytes]:
    """A ZIP written as it is read: entries use data descriptors, so no seeking back is needed."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", allowZip64=True) as archive:  # type: ignore[arg-type]
        for entry in entries:
            info = zipfile.ZipInfo(entry.path, date_time=(entry.on.year, entry.on.month, entry.on.day, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if entry.compress else zipfile.ZIP_STORED
            with archive.open(info, "w", force_zip64=True) as member:
                for piece in entry.content():
                    member.write(piece)
                    yield pipe.take()
            yield pipe.take()
    yield pipe.take()
