"""Metadata scrubbing of evidence: what a reporter's files could give away is gone, the evidence itself is unchanged."""

from __future__ import annotations

import io
import random
import re
import tracemalloc
import zlib
from collections.abc import Callable, Iterable

import pikepdf
import pytest
from pikepdf import Name
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo

from portal.scrubbing import SNIFF_BYTES, Kind, ScrubError, kind_of, scrubber_for

NAME = "Nguyen Van A"
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def _scrub(kind: Kind, data: bytes, pieces: Iterable[int] | None = None) -> bytes:
    """Feed `data` as an upload would: in pieces of the given sizes (all at once by default)."""
    scrubber = scrubber_for(kind)
    out, pos = bytearray(), 0
    for size in pieces or [len(data)]:
        out += scrubber.feed(data[pos : pos + size])
        pos += size
    assert pos >= len(data)
    return bytes(out + b"".join(scrubber.close()))


def _random_pieces(length: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    sizes: list[int] = []
    while sum(sizes) < length:
        sizes.append(rng.choice([1, 2, 3, rng.randint(1, 100), rng.randint(1, 5000), rng.randint(1, 70_000)]))
    return sizes


def _noise(mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> Image.Image:
    """Random pixels: the JPEG's scan data then holds many 0xFF bytes (stuffed as 0xFF00)."""
    return Image.frombytes(mode, size, random.Random(7).randbytes(size[0] * size[1] * len(mode)))


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (21.0, 1.0, 30.0), 3: "E", 4: (105.0, 51.0, 0.0)}  # GPS: Hanoi
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x0110] = "Model X100"  # Model
    exif[0x0132] = "2026:03:01 08:30:00"  # DateTime
    return exif.tobytes()


def _icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _jpeg(**options: object) -> bytes:
    out = io.BytesIO()
    _noise().save(
        out,
        "JPEG",
        quality=90,
        exif=_exif(),
        comment=f"taken by {NAME}".encode(),
        xmp=f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>{NAME}</dc:creator></x:xmpmeta>'.encode(),
        **options,
    )
    return out.getvalue()


def _segment(code: int, payload: bytes) -> bytes:
    return bytes([0xFF, code]) + (len(payload) + 2).to_bytes(2, "big") + payload


def _jpeg_markers(data: bytes) -> list[tuple[int, int]]:
    """(offset, code) of each marker, found independently of the scrubber: segments by length, scans by regex."""
    found, pos = [(0, 0xD8)], 2
    while pos < len(data):
        code = data[pos + 1]
        found.append((pos, code))
        if code == 0xD9:
            break
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if code == 0xDA:
            match = _SCAN_END.search(data, pos)
            assert match is not None
            pos = match.start()
    return found


def _first_sos(data: bytes) -> int:
    return next(offset for offset, code in _jpeg_markers(data) if code == 0xDA)


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.tobytes()


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + kind + payload + zlib.crc32(kind + payload).to_bytes(4, "big")


def _png() -> bytes:
    info = PngInfo()
    info.add_text("Author", NAME)
    info.add_text("Comment", f"zipped {NAME}", zip=True)
    info.add_itxt("Description", f"international {NAME}", lang="vi", tkey="Mô tả")
    info.add(b"tIME", bytes([0x07, 0xEA, 3, 1, 8, 30, 0]))
    info.add(b"prVt", NAME.encode())
    out = io.BytesIO()
    _noise().save(out, "PNG", pnginfo=info, exif=_exif(), icc_profile=_icc())
    return out.getvalue()


CONTENT = b"BT /F1 24 Tf 72 720 Td (Bang chung) Tj ET"


def _pdf() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    page = pdf.pages[0]
    page.obj.Contents = pdf.make_stream(CONTENT)
    page.obj.Metadata = pdf.make_stream(f"<x:xmpmeta>{NAME}</x:xmpmeta>".encode())
    page.obj.PieceInfo = pikepdf.Dictionary(Word=pikepdf.Dictionary(Private=pikepdf.String(NAME)))
    form = pdf.make_stream(b"0 0 m 10 10 l S", Type=Name.XObject, Subtype=Name.Form, BBox=[0, 0, 10, 10])
    form.Metadata = pdf.make_stream(f"<x:xmpmeta>form by {NAME}</x:xmpmeta>".encode())
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Fm1=form))
    pdf.Root.PieceInfo = pikepdf.Dictionary(Word=pikepdf.Dictionary(Private=pikepdf.String(NAME)))
    pdf.docinfo[Name.Author] = NAME
    pdf.docinfo[Name.Creator] = "Microsoft Word for " + NAME
    pdf.docinfo[Name.Producer] = "Secret Office Suite"
    with pdf.open_metadata() as meta:
        meta["dc:creator"] = [NAME]
    out = io.BytesIO()
    pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return out.getvalue()


def _decompressed(data: bytes) -> bytes:
    """The PDF with every stream decoded and no object streams, so that text hidden in compression shows."""
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        pdf.save(
            out,
            object_stream_mode=pikepdf.ObjectStreamMode.disable,
            stream_decode_level=pikepdf.StreamDecodeLevel.all,
            compress_streams=False,
        )
    return out.getvalue()


# --- kind_of ---


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JF", Kind.JPEG),
        (b"\x89PNG\r\n\x1a\n", Kind.PNG),
        (b"%PDF-1.7", Kind.PDF),
        (b"<!DOCTYPE html><html>", None),
        (b"PK\x03\x04\x14\x00\x06\x00", None),  # DOCX: not cleaned
        (b"\xff\xd8", None),
        (b"", None),
    ],
)
def test_kind_of_reads_magic_bytes(head: bytes, kind: Kind | None) -> None:
    assert kind_of(head[:SNIFF_BYTES]) is kind


def test_kind_of_ignores_names_a_png_called_photo_jpg_is_a_png() -> None:
    assert SNIFF_BYTES == 8
    assert kind_of(_png()[:SNIFF_BYTES]) is Kind.PNG
    assert kind_of(_jpeg()[:SNIFF_BYTES]) is Kind.JPEG
    assert kind_of(_pdf()[:SNIFF_BYTES]) is Kind.PDF


# --- JPEG ---


def test_jpeg_loses_exif_gps_xmp_and_comment() -> None:
    original = _jpeg()
    assert original.count(b"Exif\0\0") == 1 and b"http://ns.adobe.com/xap" in original
    assert original.count(NAME.encode()) == 2  # comment and XMP
    scrubbed = _scrub(Kind.JPEG, original)
    with Image.open(io.BytesIO(scrubbed)) as image:
        assert not image.getexif()
        assert "exif" not in image.info and "xmp" not in image.info and "comment" not in image.info
    assert b"Exif" not in scrubbed and b"http://ns.adobe.com/xap" not in scrubbed and NAME.encode() not in scrubbed
    codes = {code for _, code in _jpeg_markers(scrubbed)}
    assert not codes & {0xE1, 0xED, 0xFE}


def test_jpeg_is_not_re_encoded_scans_are_copied_byte_for_byte() -> None:
    original = _jpeg()
    scrubbed = _scrub(Kind.JPEG, original)
    assert _pixels(scrubbed) == _pixels(original)
    assert scrubbed[_first_sos(scrubbed) :] == original[_first_sos(original) :]


def test_jpeg_keeps_icc_profile_and_tables() -> None:
    original = _jpeg(icc_profile=_icc())
    scrubbed = _scrub(Kind.JPEG, original)
    with Image.open(io.BytesIO(scrubbed)) as image:
        assert image.info["icc_profile"] == _icc()
    structural = {0xC0, 0xC4, 0xDB, 0xE2}
    kept = [code for _, code in _jpeg_markers(original) if code in structural]
    assert [code for _, code in _jpeg_markers(scrubbed) if code in structural] == kept


def test_jpeg_keeps_adobe_colour_transform() -> None:
    out = io.BytesIO()
    _noise("CMYK").save(out, "JPEG", quality=90, exif=_exif())
    original = out.getvalue()
    scrubbed = _scrub(Kind.JPEG, original)
    assert [code for _, code in _jpeg_markers(scrubbed) if code >= 0xE0] == [0xEE]
    assert _pixels(scrubbed) == _pixels(original)


def test_progressive_jpeg_keeps_pixels_and_drops_segments_between_scans() -> None:
    original = _jpeg(progressive=True)
    scans = [offset for offset, code in _jpeg_markers(original) if code == 0xDA]
    assert len(scans) > 1
    between = _segment(0xFE, NAME.encode()) + _segment(0xE1, b"Exif\0\0" + NAME.encode())
    infected = original[: scans[1]] + between + original[scans[1] :]
    scrubbed = _scrub(Kind.JPEG, infected)
    assert NAME.encode() not in scrubbed
    assert _pixels(scrubbed) == _pixels(original)
    assert scrubbed[_first_sos(scrubbed) :] == original[scans[0] :]


def test_jpeg_restart_markers_are_scan_data() -> None:
    original = _jpeg(restart_marker_blocks=1)
    assert re.search(rb"\xff[\xd0-\xd7]", original[_first_sos(original) :])
    scrubbed = _scrub(Kind.JPEG, original)
    assert scrubbed[_first_sos(scrubbed) :] == original[_first_sos(original) :]
    assert 0xDD in {code for _, code in _jpeg_markers(scrubbed)}


def test_jpeg_drops_thumbnails_kept_in_app0() -> None:
    original = _jpeg()
    assert original[2:4] == b"\xff\xe0"
    thumbnail = b"THUMB!"  # 2 x 1 RGB pixels, perhaps from before a face was blurred
    jfif = _segment(0xE0, b"JFIF\0\x01\x02\x01\x00\x48\x00\x48\x02\x01" + thumbnail)
    jfxx = _segment(0xE0, b"JFXX\0\x10\xff\xd8\xff\xd9" + thumbnail)
    scrubbed = _scrub(Kind.JPEG, original[:2] + jfif + jfxx + original[20:])
    assert thumbnail not in scrubbed and b"JFXX" not in scrubbed
    assert scrubbed[2:20] == _segment(0xE0, b"JFIF\0\x01\x02\x01\x00\x48\x00\x48\x00\x00")
    assert _pixels(scrubbed) == _pixels(original)


def test_jpeg_drops_data_after_eoi() -> None:
    original = _jpeg()
    scrubbed = _scrub(Kind.JPEG, original + b"\xff\xd8hidden second image by " + NAME.encode())
    assert scrubbed == _scrub(Kind.JPEG, original)
    assert scrubbed.endswith(b"\xff\xd9")


def test_jpeg_fill_bytes_before_markers_are_accepted() -> None:
    original = _jpeg()
    sos = _first_sos(original)
    padded = original[:sos] + b"\xff\xff\xff" + original[sos:-2] + b"\xff\xff\xff\xd9"
    scrubbed = _scrub(Kind.JPEG, padded, [1] * len(padded))
    assert _pixels(scrubbed) == _pixels(original)
    assert NAME.encode() not in scrubbed


def test_jpeg_cut_inside_the_scan_is_accepted() -> None:
    # Truncated photos exist; what was received is still evidence (see JpegScrubber.close).
    original = _jpeg()
    whole = _scrub(Kind.JPEG, original)
    assert _scrub(Kind.JPEG, original[:-2]) == whole[:-2]
    assert _scrub(Kind.JPEG, original[:-100]) == whole[:-100]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x89PNG\r\n\x1a\n\xff\xd8\xff", id="not-soi"),
        pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00garbage", id="garbage"),
        pytest.param(b"\xff\xd8\xff\xe1\x00\x01Exif", id="length-below-2"),
        pytest.param(b"\xff\xd8\xff\x00", id="ff00-outside-scan"),
        pytest.param(b"\xff\xd8\xff\xd8", id="second-soi"),
        pytest.param(b"\xff\xd8", id="no-image"),
        pytest.param(b"\xff", id="one-byte"),
    ],
)
def test_jpeg_that_breaks_the_format_is_refused(data: bytes) -> None:
    with pytest.raises(ScrubError):
        _scrub(Kind.JPEG, data)


@pytest.mark.parametrize("cut", [3, 30, 100, -300], ids=["marker", "app0", "exif", "sos-header"])
def test_jpeg_cut_inside_a_segment_is_refused(cut: int) -> None:
    original = _jpeg()
    if cut < 0:
        cut = _first_sos(original) + 5
    with pytest.raises(ScrubError):
        _scrub(Kind.JPEG, original[:cut], [1] * cut)


# --- PNG ---


def test_png_loses_text_exif_time_and_private_chunks() -> None:
    original = _png()
    types = [kind for kind, _ in _png_chunks(original)]
    assert {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME", b"prVt", b"iCCP"} <= set(types)
    scrubbed = _scrub(Kind.PNG, original)
    kept = [kind for kind in types if kind in {b"IHDR", b"iCCP", b"IDAT", b"IEND"}]
    assert [kind for kind, _ in _png_chunks(scrubbed)] == kept
    assert NAME.encode() not in scrubbed
    with Image.open(io.BytesIO(scrubbed)) as image:
        assert not image.getexif() and not getattr(image, "text", {})
        assert image.info["icc_profile"] == _icc()
        assert image.tobytes() == _pixels(original)
    idat = [data for kind, data in _png_chunks(original) if kind == b"IDAT"]
    assert [data for kind, data in _png_chunks(scrubbed) if kind == b"IDAT"] == idat


def test_png_drops_data_after_iend() -> None:
    original = _png()
    assert _scrub(Kind.PNG, original + NAME.encode()) == _scrub(Kind.PNG, original)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x89PNG\r\n\x1b\n" + _chunk(b"IHDR", bytes(13)), id="signature"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + _chunk(b"tEXt", b"a\0b") + _chunk(b"IHDR", bytes(13)), id="ihdr-not-first"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", bytes(13)) + _chunk(b"I\0AT", b""), id="chunk-type"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", bytes(13)) + b"\xff\xff\xff\xffIDAT", id="length"),
        pytest.param(b"\x89PNG\r\n", id="short"),
    ],
)
def test_png_that_breaks_the_format_is_refused(data: bytes) -> None:
    with pytest.raises(ScrubError):
        _scrub(Kind.PNG, data)


@pytest.mark.parametrize("cut", [20, 40, -12, -1])
def test_png_cut_short_is_refused(cut: int) -> None:
    with pytest.raises(ScrubError):
        _scrub(Kind.PNG, _png()[:cut])


# --- PDF ---


def test_pdf_loses_info_xmp_and_application_data() -> None:
    original = _pdf()
    assert NAME.encode() in _decompressed(original)
    scrubbed = _scrub(Kind.PDF, original)
    assert NAME.encode() not in scrubbed
    flat = _decompressed(scrubbed)
    assert NAME.encode() not in flat and b"Secret Office" not in flat and b"pikepdf" not in flat
    with pikepdf.open(io.BytesIO(scrubbed)) as pdf, pikepdf.open(io.BytesIO(original)) as before:
        assert Name.Info not in pdf.trailer and not pdf.docinfo
        assert pdf.trailer.ID[0] != before.trailer.ID[0]
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                assert Name.Metadata not in obj and Name.PieceInfo not in obj
        page, old_page = pdf.pages[0], before.pages[0]
        assert page.obj.Contents.read_raw_bytes() == old_page.obj.Contents.read_raw_bytes()
        assert page.obj.Contents.read_bytes() == CONTENT
        form, old_form = page.Resources.XObject.Fm1, old_page.Resources.XObject.Fm1
        assert form.read_raw_bytes() == old_form.read_raw_bytes()


def test_pdf_output_is_deterministic() -> None:
    original = _pdf()
    assert _scrub(Kind.PDF, original) == _scrub(Kind.PDF, original)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"%PDF-1.7\nthis is not really a PDF", id="not-a-pdf"),
        pytest.param(
            b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF", id="no-pages"
        ),
        pytest.param(b"", id="empty"),
    ],
)
def test_pdf_that_cannot_be_opened_is_refused(data: bytes) -> None:
    with pytest.raises(ScrubError):
        _scrub(Kind.PDF, data)


def test_encrypted_pdf_is_refused() -> None:
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(_pdf())) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(user="secret", owner="secret"))
    with pytest.raises(ScrubError):
        _scrub(Kind.PDF, out.getvalue())


# --- pieces of any size ---


@pytest.mark.parametrize(
    ("kind", "make"),
    [
        pytest.param(Kind.JPEG, lambda: _jpeg(icc_profile=_icc()), id="jpeg"),
        pytest.param(Kind.JPEG, lambda: _jpeg(progressive=True, restart_marker_blocks=2), id="progressive"),
        pytest.param(Kind.PNG, _png, id="png"),
        pytest.param(Kind.PDF, _pdf, id="pdf"),
    ],
)
def test_every_split_gives_the_same_output(kind: Kind, make: Callable[[], bytes]) -> None:
    original = make()
    whole = _scrub(kind, original)
    assert _scrub(kind, original, [1] * len(original)) == whole
    for seed in range(5):
        assert _scrub(kind, original, _random_pieces(len(original), seed)) == whole


# --- bounded memory ---

PIECE = 64 * 1024
PIECES = 320  # 20 MiB
PNG_HEAD = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", b"\x00\x00\x10\x00\x00\x00\x10\x00\x08\x00\x00\x00\x00")


def _peak_while_feeding(kind: Kind, head: bytes, piece: bytes, tail: bytes) -> tuple[int, int]:
    """Peak traced memory and output length while the scrubber passes PIECES copies of `piece` through."""
    scrubber = scrubber_for(kind)
    tracemalloc.start()
    try:
        length = len(scrubber.feed(head))
        for _ in range(PIECES):
            length += len(scrubber.feed(piece))
        length += len(scrubber.feed(tail)) + sum(map(len, scrubber.close()))
        return tracemalloc.get_traced_memory()[1], length
    finally:
        tracemalloc.stop()


def test_jpeg_scan_data_streams_through_in_bounded_memory() -> None:
    sof = _segment(0xC0, b"\x08\x00\x10\x00\x10\x01\x01\x11\x00")
    head = b"\xff\xd8" + sof + _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    piece = (bytes(range(255)) + b"\xff\x00") * (PIECE // 257)
    peak, length = _peak_while_feeding(Kind.JPEG, head, piece, b"\xff\xd9")
    assert length == len(head) + PIECES * len(piece) + 2
    assert peak < 1_000_000


def test_png_idat_streams_through_in_bounded_memory() -> None:
    piece = bytes(PIECE)
    head = PNG_HEAD + (PIECES * len(piece)).to_bytes(4, "big") + b"IDAT"
    tail = b"\0\0\0\0" + _chunk(b"IEND", b"")
    peak, length = _peak_while_feeding(Kind.PNG, head, piece, tail)
    assert length == len(head) + PIECES * len(piece) + len(tail)
    assert peak < 1_000_000
