"""Evidence files on the citizen side: sent with a report or a message, listed and downloaded with
the receipt, cleaned of metadata, refused past the limits without losing what was typed."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from typing import Any

import pikepdf
import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from portal import create_citizen_app
from portal.db import get_db
from portal.models import Attachment, AttachmentChunk, Case
from tests.app.test_status import look_up
from tests.helpers import RECEIPT_PATTERN, VALID_REPORT, csrf_token

GPS_IFD = 0x8825
NARRATIVE = "Cán bộ thu tiền ngoài biên lai tại bộ phận một cửa, mỗi hồ sơ 2 triệu đồng, có ảnh chụp kèm theo."
DOWNLOAD_PATTERN = re.compile(r'action="(/\w+/status/files/(\d+))"')


def gps_photo(**exif_extra: Any) -> bytes:
    image = Image.new("RGB", (64, 48))
    image.putdata([(x * 4 % 256, y * 5 % 256, (x * y) % 256) for y in range(48) for x in range(64)])
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Model-X SN 12345"  # Model
    exif[GPS_IFD] = {1: "N", 2: (21.0, 1.0, 30.0), 3: "E", 4: (105.0, 51.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def post_multipart(client: FlaskClient, path: str, data: dict[str, Any], files: list[tuple[bytes, str]]) -> Any:
    """A multipart body built in memory (werkzeug's test builder leaves a temporary file open for big ones)."""
    fields = MultiDict(data)
    for content, name in files or [(b"", "")]:  # a browser sends an empty part when no file is chosen
        fields.add("files", FileStorage(io.BytesIO(content), filename=name))
    boundary, body = encode_multipart(fields)
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def send_report(client: FlaskClient, files: list[tuple[bytes, str]], **fields: Any) -> Any:
    data: dict[str, Any] = {**VALID_REPORT, "narrative": NARRATIVE, **fields, "csrf_token": csrf_token(client)}
    return post_multipart(client, "/vi/report", data, files)


def receipt_of(response: Any) -> str:
    assert response.status_code == 201, response.get_data(as_text=True)
    match = RECEIPT_PATTERN.search(response.get_data(as_text=True))
    assert match
    return match.group(1)


def downloads(client: FlaskClient, receipt: str) -> dict[str, str]:
    """File name shown on the status page → the address its download button posts to."""
    page = look_up(client, receipt).get_data(as_text=True)
    names = re.findall(r'<span class="file-name">([^<]*)</span>', page)
    actions = [match.group(1) for match in DOWNLOAD_PATTERN.finditer(page)]
    assert len(names) == len(actions)
    return dict(zip(names, actions, strict=True))


def download(client: FlaskClient, action: str, receipt: str) -> Any:
    return client.post(action, data={"csrf_token": csrf_token(client, "/vi/status"), "receipt": receipt})


def stored_files(app: Flask) -> int:
    with app.app_context(), get_db().session() as session:
        return session.scalar(select(func.count()).select_from(Attachment)) or 0


@pytest.fixture
def small_limits_app(env: dict[str, str]) -> Iterator[Flask]:
    app = create_citizen_app({**env, "ATTACHMENT_FILE_MB": "1", "ATTACHMENT_SUBMISSION_MB": "2"})
    yield app
    app.extensions["portal_db"].dispose()


def test_files_round_trip_byte_exact_and_download_only_as_attachments(client: FlaskClient) -> None:
    contract = os.urandom(300_000)
    page = b"<html><script>alert('x')</script></html>"
    receipt = receipt_of(send_report(client, [(contract, "hợp đồng.pdf.bin"), (page, "trang.html")]))
    links = downloads(client, receipt)
    assert set(links) == {"hợp đồng.pdf.bin", "trang.html"}
    for name, content in (("hợp đồng.pdf.bin", contract), ("trang.html", page)):
        response = download(client, links[name], receipt)
        assert response.status_code == 200
        assert response.data == content
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"].startswith("no-store")


def test_the_database_holds_only_ciphertext(client: FlaskClient, citizen_app: Flask) -> None:
    marker = b"EVIDENCE-MARKER-7f3a9c" * 500
    receipt_of(send_report(client, [(marker, "marker-name-5d1e.txt")]))
    with citizen_app.app_context(), get_db().session() as session:
        blobs = b"".join(session.scalars(select(AttachmentChunk.data)))
        rows = session.execute(select(Attachment.sealed_for_intake, Attachment.sealed_for_reporter)).one()
    assert b"EVIDENCE-MARKER" not in blobs
    assert all(b"marker-name" not in sealed for sealed in rows)


def test_a_photo_loses_its_location_and_camera_but_not_a_pixel(client: FlaskClient) -> None:
    photo = gps_photo()
    assert Image.open(io.BytesIO(photo)).getexif().get_ifd(GPS_IFD)
    receipt = receipt_of(send_report(client, [(photo, "IMG_0001.jpg")]))
    cleaned = download(client, downloads(client, receipt)["IMG_0001.jpg"], receipt).data
    image = Image.open(io.BytesIO(cleaned))
    assert not image.getexif()
    assert b"PhoneMaker" not in cleaned and b"Model-X" not in cleaned
    assert image.tobytes() == Image.open(io.BytesIO(photo)).tobytes()
    # Not re-encoded: the compressed picture data is the same bytes.
    assert cleaned[cleaned.index(b"\xff\xda") :] == photo[photo.index(b"\xff\xda") :]


def test_a_pdf_loses_its_author_and_keeps_its_pages(client: FlaskClient) -> None:
    document = pikepdf.new()
    page = document.add_blank_page()
    page.Contents = document.make_stream(b"BT /F1 12 Tf 72 720 Td (Hop dong 17/2026) Tj ET")
    document.docinfo["/Author"] = "Nguyen Van Nguoi Viet"
    with document.open_metadata() as xmp:
        xmp["dc:creator"] = ["Nguyen Van Nguoi Viet"]
    original = io.BytesIO()
    document.save(original)
    receipt = receipt_of(send_report(client, [(original.getvalue(), "hợp đồng.pdf")]))
    cleaned = download(client, downloads(client, receipt)["hợp đồng.pdf"], receipt).data
    assert b"Nguoi Viet" not in cleaned
    with pikepdf.open(io.BytesIO(cleaned)) as opened:
        assert "/Author" not in opened.docinfo and "/Metadata" not in opened.Root
        assert opened.pages[0].Contents.read_bytes() == b"BT /F1 12 Tf 72 720 Td (Hop dong 17/2026) Tj ET"


def test_a_reporter_may_keep_the_original_metadata(client: FlaskClient) -> None:
    photo = gps_photo()
    receipt = receipt_of(send_report(client, [(photo, "original.jpg")], keep_original="y"))
    assert download(client, downloads(client, receipt)["original.jpg"], receipt).data == photo


def test_the_form_explains_what_is_and_is_not_cleaned(client: FlaskClient) -> None:
    page = client.get("/en/report").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page
    assert "up to 50 MB each and 200 MB in all" in page
    assert "Other files (Word, Excel, videos, recordings) are not cleaned" in page


def test_a_file_over_the_limit_is_named_and_nothing_typed_is_lost(
    small_limits_app: Flask,
) -> None:
    client = small_limits_app.test_client()
    response = send_report(client, [(b"x" * 1000, "ok.txt"), (os.urandom(1_100_000), "video quá lớn.mp4")])
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "“video quá lớn.mp4” lớn hơn 1 MB, giới hạn cho một tệp, nên chưa được gửi." in page
    assert NARRATIVE in page  # the text comes back, filled in
    assert "hãy chọn lại tệp trước khi gửi" in page
    assert stored_files(small_limits_app) == 0
    with small_limits_app.app_context(), get_db().session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_files_past_the_submission_limit_are_named(small_limits_app: Flask) -> None:
    client = small_limits_app.test_client()
    files = [(os.urandom(900_000), f"ảnh {number}.bin") for number in range(3)]
    response = send_report(client, files)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "“ảnh 2.bin” chưa được gửi: tổng dung lượng các tệp lớn hơn 2 MB" in page
    assert "“ảnh 0.bin”" not in page and "“ảnh 1.bin”" not in page
    assert NARRATIVE in page


def test_a_body_beyond_the_hard_ceiling_is_refused_before_it_is_read(small_limits_app: Flask) -> None:
    client = small_limits_app.test_client()
    response = send_report(client, [(b"\0" * (6 * 1024 * 1024), "huge.bin")])
    assert response.status_code == 413
    assert stored_files(small_limits_app) == 0


def test_a_damaged_photo_is_refused_with_a_way_out(client: FlaskClient, citizen_app: Flask) -> None:
    damaged = gps_photo()[:200]  # cut inside its EXIF segment
    response = send_report(client, [(damaged, "hỏng.jpg")])
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "hỏng.jpg" in page and NARRATIVE in page
    assert stored_files(citizen_app) == 0
    # Ticking the box sends it as it is.
    assert send_report(client, [(damaged, "hỏng.jpg")], keep_original="y").status_code == 201


def test_hostile_names_are_shown_escaped_and_served_as_plain_names(client: FlaskClient) -> None:
    names = ["../../etc/passwd", "<img src=x onerror='alert(1)'>.svg", "invoice\u202egpj.exe", "..\\..\\boot.ini"]
    receipt = receipt_of(send_report(client, [(b"data", name) for name in names]))
    page = look_up(client, receipt).get_data(as_text=True)
    assert "<img src=x" not in page and "\u202e" not in page
    links = downloads(client, receipt)
    assert set(links) == {"passwd", "_img src=x onerror=&#39;alert(1)&#39;_.svg", "invoicegpj.exe", "boot.ini"}
    for action in links.values():
        disposition = download(client, action, receipt).headers["Content-Disposition"]
        fallback = re.search(r'filename="([^"]*)"', disposition)
        assert fallback and re.fullmatch(r"[A-Za-z0-9._-]+", fallback.group(1))
        assert "/" not in disposition.split("filename*=")[1] and ".." not in fallback.group(1).strip(".")


def test_a_message_can_carry_files_and_they_are_listed_with_it(client: FlaskClient) -> None:
    receipt = receipt_of(send_report(client, []))
    data = {"csrf_token": csrf_token(client, "/vi/status"), "receipt": receipt, "text": "Tôi gửi thêm biên lai."}
    response = post_multipart(client, "/vi/status/message", data, [(b"receipt scan", "biên lai.txt")])
    assert response.status_code == 200
    links = downloads(client, receipt)
    assert list(links) == ["biên lai.txt"]
    assert download(client, links["biên lai.txt"], receipt).data == b"receipt scan"


def test_a_file_is_reached_only_with_its_own_receipt(client: FlaskClient) -> None:
    mine = receipt_of(send_report(client, [(b"mine", "mine.txt")]))
    other = receipt_of(send_report(client, []))
    action = downloads(client, mine)["mine.txt"]
    assert download(client, action, other).status_code == 404
    wrong = download(client, action, "ABCD-EFGH-JKMN-PQRS-TUVW")
    assert wrong.status_code in (400, 404) and b"mine" not in wrong.data
