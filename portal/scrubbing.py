"""Metadata removal for uploaded evidence, run on the plaintext stream before it is sealed.

A photo's EXIF can hold the GPS position, the time and the camera's serial number; a PDF's /Info and XMP can hold
the author's name and the software that made it. Any of these can unmask a reporter, so they are removed before the
file is encrypted, while it is still being received.

JPEG and PNG are cleaned as a stream, fed in pieces of any size: only one marker segment or chunk header is held at a
time, and the image data itself flows through byte for byte. The JPEG is never re-encoded, so the image the reviewer
sees is exactly the evidence that was sent. The pixels themselves (sensor noise, a camera model's quantisation
tables) are not metadata and are kept. A PDF needs random access (its cross-reference table is at the end), so it is
spooled to an encrypted, seekable temporary file (`portal.block_spool`) and rewritten in full when the upload ends,
into a second one: memory stays bounded by the PDF's object table, not its size.

Not cleaned (`kind_of` returns None): office documents (DOCX, XLSX, ODT…), video and audio, HEIC/HEIF, TIFF, WebP,
GIF, archives, and any PDF that does not start with the `%PDF-` header.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import pikepdf
from pikepdf import Name

from portal.block_spool import BlockSpool


class ScrubError(Exception):
    """The file claims a type it does not follow; it cannot be cleaned safely."""


class Kind(enum.StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    PDF = "pdf"


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAGIC = ((b"\xff\xd8\xff", Kind.JPEG), (_PNG_SIGNATURE, Kind.PNG), (b"%PDF-", Kind.PDF))
SNIFF_BYTES = max(len(magic) for magic, _ in _MAGIC)


def kind_of(head: bytes) -> Kind | None:
    """Type by magic bytes, never by file name or declared type: both are chosen by whoever sends the file."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


class Scrubber(Protocol):
    def feed(self, data: bytes) -> bytes:
        """Take the next piece of the upload; return the cleaned bytes ready so far (may be empty)."""

    def close(self) -> Iterable[bytes]:
        """Return the rest of the cleaned file; raise ScrubError if the file ended mid-structure."""


class _PushParser(abc.ABC):
    """Keeps the bytes a parser could not use yet (a partial header or segment) for the next piece."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> bytes:
        self._pending += data
        out = bytearray()
        del self._pending[: self._parse(self._pending, out)]
        return bytes(out)

    @abc.abstractmethod
    def _parse(self, buf: bytearray, out: bytearray) -> int:
        """Write cleaned bytes to `out`; return how many bytes of `buf` were used."""


class _Jpeg(enum.Enum):
    START = enum.auto()
    MARKER = enum.auto()
    ENTROPY = enum.auto()
    DONE = enum.auto()


_SOI, _EOI, _SOS, _COM = 0xD8, 0xD9, 0xDA, 0xFE
_APP0, _APP2, _APP14, _APP15 = 0xE0, 0xE2, 0xEE, 0xEF
_RST = range(0xD0, 0xD8)
_TEM = 0x01


def _kept_segment(segment: bytes) -> bytes:
    """The part of a marker segment to keep: application segments and comments go, unless they change the image."""
    code, payload = segment[1], segment[4:]
    if code != _COM and not _APP0 <= code <= _APP15:
        return segment
    if code == _APP0 and payload.startswith(b"JFIF\0") and len(payload) >= 14:
        # Keep version, units and density; drop the embedded thumbnail, which may predate a crop or a blur.
        return b"\xff\xe0\x00\x10" + payload[:12] + b"\x00\x00"
    if (code == _APP2 and payload.startswith(b"ICC_PROFILE\0")) or (code == _APP14 and payload.startswith(b"Adobe")):
        return segment  # colour profile and colour transform: without them the colours change
    return b""  # EXIF, XMP, IPTC/Photoshop, JFXX thumbnails, MPF, maker notes, comments


class JpegScrubber(_PushParser):
    """Drops APPn/COM segments and everything after EOI; every other byte, the scans included, is copied unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self._state = _Jpeg.START
        self._scanned = False

    def _parse(self, buf: bytearray, out: bytearray) -> int:
        pos, end = 0, len(buf)
        while True:
            if self._state is _Jpeg.DONE:
                return end  # trailing data: appended images, maker blobs, anything hidden after the picture
            if self._state is _Jpeg.START:
                if end < 2:
                    return pos
                if buf[:2] != b"\xff\xd8":
                    raise ScrubError("JPEG does not start with SOI")
                out += buf[:2]
                pos, self._state = 2, _Jpeg.MARKER
            elif self._state is _Jpeg.ENTROPY:
                # Entropy-coded data: 0xFF00 (a stuffed 0xFF) and RSTn belong to it; any other 0xFFxx is a marker.
                start = pos
                while True:
                    ff = buf.find(b"\xff", pos)
                    if ff < 0 or ff + 1 == end:
                        stop = end if ff < 0 else ff
                        out += buf[start:stop]
                        return stop
                    if buf[ff + 1] == 0 or buf[ff + 1] in _RST:
                        pos = ff + 2
                        continue
                    out += buf[start:ff]
                    pos, self._state = ff, _Jpeg.MARKER
                    break
            else:
                used = self._marker(buf, pos, out)
                if used == pos:
                    return pos
                pos = used

    def _marker(self, buf: bytearray, pos: int, out: bytearray) -> int:
        """Handle the marker at `pos`; return where it ends, or `pos` if it is not all here yet."""
        if pos == len(buf):
            return pos
        if buf[pos] != 0xFF:
            raise ScrubError("JPEG has data where a marker should be")
        if pos + 1 == len(buf):
            return pos
        code = buf[pos + 1]
        if code == 0xFF:
            return pos + 1  # fill byte before a marker: dropped
        if code in (0x00, _SOI):
            raise ScrubError(f"JPEG has an invalid marker 0xFF{code:02X}")
        if code == _EOI or code == _TEM or code in _RST:
            out += buf[pos : pos + 2]
            if code == _EOI:
                self._state = _Jpeg.DONE
            return pos + 2
        if len(buf) - pos < 4:
            return pos
        length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
        if length < 2:
            raise ScrubError("JPEG segment length is below 2")
        if len(buf) - pos < 2 + length:
            return pos  # held until the whole segment (at most 65,537 bytes) has arrived
        out += _kept_segment(bytes(buf[pos : pos + 2 + length]))
        if code == _SOS:
            self._state, self._scanned = _Jpeg.ENTROPY, True
        return pos + 2 + length

    def close(self) -> Iterable[bytes]:
        # A missing EOI is accepted once a scan has started, provided no segment is cut: many decoders show such a
        # truncated image, and what was received is still evidence. At most a lone 0xFF, a marker that never came,
        # may be left; it is dropped.
        if self._state is not _Jpeg.DONE and not (self._scanned and len(self._pending) <= 1):
            raise ScrubError("JPEG ends inside a segment or before any image data")
        return ()


_PNG_KEPT = frozenset(
    b"IHDR PLTE IDAT IEND tRNS cHRM gAMA iCCP sBIT sRGB cICP mDCV cLLI bKGD hIST pHYs sPLT acTL fcTL fdAT".split()
)


class _Png(enum.Enum):
    SIGNATURE = enum.auto()
    HEADER = enum.auto()
    BODY = enum.auto()
    DONE = enum.auto()


class PngScrubber(_PushParser):
    """Keeps the chunks that define the image (a whitelist) byte for byte; text, EXIF, time and unknown chunks go."""

    def __init__(self) -> None:
        super().__init__()
        self._state = _Png.SIGNATURE
        self._first = True
        self._type = b""
        self._left = 0  # bytes of the current chunk's data and CRC still to come
        self._keep = False

    def _parse(self, buf: bytearray, out: bytearray) -> int:
        pos, end = 0, len(buf)
        while True:
            if self._state is _Png.DONE:
                return end  # data after IEND
            if self._state is _Png.SIGNATURE:
                if end < len(_PNG_SIGNATURE):
                    return pos
                if buf[: len(_PNG_SIGNATURE)] != _PNG_SIGNATURE:
                    raise ScrubError("PNG signature is wrong")
                out += _PNG_SIGNATURE
                pos, self._state = len(_PNG_SIGNATURE), _Png.HEADER
            elif self._state is _Png.HEADER:
                if end - pos < 8:
                    return pos
                header = bytes(buf[pos : pos + 8])
                length, self._type = int.from_bytes(header[:4], "big"), header[4:]
                if length >= 2**31 or not self._type.isalpha():
                    raise ScrubError("PNG chunk header is malformed")
                if self._first and self._type != b"IHDR":
                    raise ScrubError("PNG does not start with IHDR")
                self._first, self._keep, self._left = False, self._type in _PNG_KEPT, length + 4
                if self._keep:
                    out += header
                pos, self._state = pos + 8, _Png.BODY
            else:
                # Chunk data flows through as it arrives: an IDAT can be as large as the whole file.
                take = min(self._left, end - pos)
                if self._keep:
                    out += buf[pos : pos + take]
                pos, self._left = pos + take, self._left - take
                if self._left:
                    return pos
                self._state = _Png.DONE if self._type == b"IEND" else _Png.HEADER

    def close(self) -> Iterable[bytes]:
        if self._state is not _Png.DONE:
            raise ScrubError("PNG ends before IEND")
        return ()


class PdfScrubber:
    """Spools the PDF (encrypted, random access), then removes document info, XMP and application data and
    rewrites the file in full into a second encrypted spool, which `close()` hands back piece by piece."""

    def __init__(self) -> None:
        self._source = BlockSpool()

    def feed(self, data: bytes) -> bytes:
        self._source.write(data)
        return b""

    def close(self) -> Iterator[bytes]:
        cleaned = BlockSpool()
        try:
            self._rewrite(cleaned)
            yield from cleaned.pieces()
        finally:
            self._source.close()
            cleaned.close()

    def _rewrite(self, cleaned: BlockSpool) -> None:
        try:
            with pikepdf.open(self._source.reader()) as pdf:
                # /ID too: its first half stays the same in every saved version of a document, so it would tie
                # this copy to the ones on the reporter's computer. The new /ID is a digest of the cleaned file.
                for key in (Name.Info, Name.ID):
                    if key in pdf.trailer:
                        del pdf.trailer[key]
                for obj in pdf.objects:
                    if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                        for key in (Name.Metadata, Name.PieceInfo):
                            if key in obj:
                                del obj[key]
                # A full rewrite drops the objects nothing refers to any more, old revisions included. Streams are
                # copied as they are, not decoded and compressed again.
                pdf.save(
                    cleaned.writer(),
                    fix_metadata_version=False,
                    deterministic_id=True,
                    compress_streams=False,
                    stream_decode_level=pikepdf.StreamDecodeLevel.none,
                )
        except (pikepdf.PdfError, pikepdf.PasswordError) as error:
            raise ScrubError(f"PDF cannot be opened or rewritten: {error}") from error


_SCRUBBERS: dict[Kind, Callable[[], Scrubber]] = {Kind.JPEG: JpegScrubber, Kind.PNG: PngScrubber, Kind.PDF: PdfScrubber}


def scrubber_for(kind: Kind) -> Scrubber:
    """A fresh scrubber for one file of `kind`: each keeps the state of the upload it is fed."""
    return _SCRUBBERS[kind]()
