"""Evidence sent through the real stack leaves nothing readable on disk: a unique marker in a report's text, in a
file's content, in its name, in a photo's EXIF and comment, and in a later message and its file, is found in none of
the database's files (SQLite main file, WAL, shared memory, journal; PostgreSQL's heap, TOAST and WAL), none of the
temporary files of the workers, and not in the server's log. Each marker is also looked for as hex, UTF-16 and
base64 (every alignment), the forms a careless dump, driver or encoder would leave behind.

A scan after the fact cannot see an unlinked temporary file, so a second test reads the upload spool through
/proc/<worker>/fd while the body is still arriving, slowly, and checks that it holds only ciphertext.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import http.cookiejar
import io
import os
import re
import secrets
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import create_engine, inspect, text
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from crypto.attachments import CHUNK_BYTES
from portal.migrate import upgrade
from tests.helpers import CSRF_PATTERN, RECEIPT_PATTERN, VALID_REPORT
from tests.servers import gunicorn

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
# Large enough to cross ~100 encryption chunks, werkzeug's and SQLite's buffers, and PostgreSQL's TOAST pages.
EVIDENCE_BYTES = 6 * MIB
MESSAGE_FILE_BYTES = 1 * MIB
MARKER_EVERY = 4096
READ_BLOCK = 8 * MIB
FILE_NAME_PATTERN = re.compile(r'<span class="file-name">([^<]*)</span>')
DOWNLOAD_PATTERN = re.compile(r'action="(/vi/status/files/\d+)"')
EXIF_MAKE = 0x010F


# --- what is sent ---------------------------------------------------------------------------------------------------


def new_markers() -> dict[str, bytes]:
    """One unguessable ASCII marker per place a reporter's data enters the portal."""
    places = [
        "narrative", "file content", "file name", "photo EXIF", "photo comment",
        "message text", "message file content", "message file name",
    ]  # fmt: skip
    return {place: f"TRACE{secrets.token_hex(16)}".encode() for place in places}


def evidence(marker: bytes, size: int) -> bytes:
    """Random bytes with the marker every 4 KiB and straddling every encryption-chunk boundary, so a plaintext
    leak shows whatever the size of the pieces it was written in."""
    data = bytearray(os.urandom(size))
    for offset in range(1024, size - len(marker), MARKER_EVERY):
        data[offset : offset + len(marker)] = marker
    for boundary in range(CHUNK_BYTES, size, CHUNK_BYTES):
        start = boundary - len(marker) // 2
        data[start : start + len(marker)] = marker
    return bytes(data)


def photo(exif_marker: bytes, comment_marker: bytes) -> bytes:
    """A real JPEG whose EXIF Make and comment carry markers: it is cleaned, so it is decrypted and re-encrypted."""
    image = Image.new("RGB", (64, 48))
    image.putdata([(x * 4 % 256, y * 5 % 256, (x * y) % 256) for y in range(48) for x in range(64)])
    exif = Image.Exif()
    exif[EXIF_MAKE] = exif_marker.decode()
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif, comment=comment_marker)
    return out.getvalue()


def multipart(fields: dict[str, Any], files: list[tuple[bytes, str]]) -> tuple[str, bytes]:
    """(content type, body) of a browser-like form post with its files in the `files` field."""
    data = MultiDict(fields)
    for content, name in files:
        data.add("files", FileStorage(io.BytesIO(content), filename=name, content_type="application/octet-stream"))
    boundary, body = encode_multipart(data)
    return f"multipart/form-data; boundary={boundary}", body


class Browser:
    """A client that keeps its session cookie, as a reporter's browser does."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def request(self, path: str, body: bytes | None = None, content_type: str = "") -> tuple[int, bytes]:
        headers = {"Content-Type": content_type} if content_type else {}
        request = urllib.request.Request(self.base + path, data=body, headers=headers)
        try:
            with self.opener.open(request, timeout=120) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read()

    def post_files(self, path: str, fields: dict[str, Any], files: list[tuple[bytes, str]]) -> tuple[int, bytes]:
        content_type, body = multipart(fields, files)
        return self.request(path, body, content_type)

    def form(self, path: str, fields: dict[str, str]) -> tuple[int, bytes]:
        return self.request(path, urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded")

    def token(self, path: str) -> str:
        match = CSRF_PATTERN.search(self.request(path)[1].decode())
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def cookie_header(self, path: str) -> str:
        request = urllib.request.Request(self.base + path)
        self.cookies.add_cookie_header(request)
        return request.get_header("Cookie") or ""


# --- how it is looked for --------------------------------------------------------------------------------------------


def encodings(label: str, marker: bytes) -> dict[str, bytes]:
    """The marker as stored raw, as hex (a bytea or BLOB dump), as UTF-16 either way, and as the alignment-independent
    core of its base64 (standard and URL-safe) at each of the three offsets it can start at."""
    forms = {
        label: marker,
        f"{label} as hex": marker.hex().encode(),
        f"{label} as UTF-16LE": marker.decode().encode("utf-16-le"),
        f"{label} as UTF-16BE": marker.decode().encode("utf-16-be"),
    }
    for shift in range(3):
        padded = bytes(shift) + marker
        # Drop the first quantum when it mixes in the bytes before, and the last partial one that depends on after.
        core = base64.b64encode(padded)[4 if shift else 0 : 4 * (len(padded) // 3)]
        forms[f"{label} as base64 (offset {shift})"] = core
        urlsafe = core.replace(b"+", b"-").replace(b"/", b"_")
        if urlsafe != core:
            forms[f"{label} as URL-safe base64 (offset {shift})"] = urlsafe
    return forms


def needles_for(markers: dict[str, bytes]) -> dict[str, bytes]:
    return {name: form for label, marker in markers.items() for name, form in encodings(label, marker).items()}


@dataclass
class Scan:
    """What a scan found, and how much it read (so that finding nothing means something)."""

    hits: set[str] = field(default_factory=set)
    bytes_read: int = 0
    files: list[Path] = field(default_factory=list)


def files_under(root: Path, modified_since: float = 0.0) -> Iterator[Path]:
    for directory, _dirs, names in os.walk(root, followlinks=True):
        for name in names:
            path = Path(directory, name)
            try:
                if path.stat().st_mtime >= modified_since:
                    yield path
            except OSError:  # removed while we walked (a WAL segment recycled, a temporary file)
                continue


def scan(
    paths: Iterable[Path], needles: dict[str, bytes], into: Scan | None = None, describe: Callable[[Path], str] = str
) -> Scan:
    """Read every regular file in blocks (overlapping, so a needle across two blocks is still seen)."""
    result = into or Scan()
    overlap = max(len(needle) for needle in needles.values()) - 1
    for path in paths:
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                continue
            handle = open(path, "rb")  # noqa: SIM115 - closed below, also when a read fails
        except OSError:
            continue
        with handle:
            result.files.append(path)
            tail = b""
            while block := handle.read(READ_BLOCK):
                result.bytes_read += len(block)
                window = tail + block
                result.hits.update(
                    f"{name} in {describe(path)}" for name, needle in needles.items() if needle in window
                )
                tail = window[-overlap:]
    return result


# --- the database ----------------------------------------------------------------------------------------------------


def own_sqlite_database(env: dict[str, str], tmp_path: Path) -> tuple[dict[str, str], Path | None]:
    """On SQLite, a fresh database alone in its directory, so every file SQLite makes there is scanned."""
    if not env["DATABASE_URL"].startswith("sqlite"):
        return env, None
    directory = tmp_path / "database"
    directory.mkdir()
    url = f"sqlite:///{directory / 'portal.db'}"
    upgrade(url)
    return {**env, "DATABASE_URL": url}, directory


def postgres_evidence(url: str, needles: dict[str, bytes], since: float) -> tuple[Scan, int]:
    """Checkpoint, then scan the data directory's files written during the test (heap, TOAST, WAL, temporary files)
    and the server's log; also scan every row as text, since TOAST may have compressed a value past recognition.

    Practical because only files modified since the test began are read: a WAL segment or two and the touched
    relations, ~30 MB and ~1 s here, however large the cluster (other sessions' files are read too, harmlessly).
    Returns the scan and the ciphertext bytes stored for the files. Raw files are read only when we may (we run as
    root here); otherwise that part is skipped after the rest has been checked.
    """
    engine = create_engine(url)
    with engine.connect() as connection:
        connection.execute(text("CHECKPOINT"))
        data_directory = Path(connection.execute(text("SHOW data_directory")).scalar_one())
        stored = connection.execute(text("SELECT coalesce(sum(octet_length(data)), 0) FROM attachment_chunks"))
        stored_bytes = int(stored.scalar_one())
        rows = b"\n".join(
            str(row[0]).encode()
            for table in inspect(connection).get_table_names()
            for row in connection.execute(text(f"SELECT t::text FROM {table} t"))  # bytea comes out as hex
        )
    engine.dispose()
    result = Scan()
    result.hits.update(f"{name} in a row of the database" for name, needle in needles.items() if needle in rows)
    if not os.access(data_directory, os.R_OK | os.X_OK):
        return result, stored_bytes
    scan(files_under(data_directory, modified_since=since), needles, into=result)
    scan(postmaster_log(data_directory), needles, into=result)
    return result, stored_bytes


def postmaster_log(data_directory: Path) -> list[Path]:
    """The file the server's standard error goes to (Debian's pg_ctlcluster points it at /var/log/postgresql)."""
    try:
        pid = (data_directory / "postmaster.pid").read_text().split()[0]
        target = Path(os.readlink(f"/proc/{pid}/fd/2"))
    except (OSError, IndexError):
        return []
    return [target] if target.is_file() else []


# --- the server's processes ------------------------------------------------------------------------------------------


def parent_of(pid: int) -> int | None:
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may itself hold spaces and parentheses.
    return int(stat_line[stat_line.rindex(")") + 2 :].split()[1])


def children_of(pid: int) -> list[int]:
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and parent_of(int(entry.name)) == pid
    ]


def command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # it has just exited
        return b""


def gunicorn_workers(base: str) -> list[int]:
    """Workers of the gunicorn master this test started: a child of ours whose command line binds `base`'s port."""
    bind = base.removeprefix("http://").encode()
    masters = [pid for pid in children_of(os.getpid()) if bind in command_line(pid)]
    assert len(masters) == 1, masters
    return children_of(masters[0])


def open_files(pids: Iterable[int]) -> dict[Path, str]:
    """/proc/<pid>/fd/<n> -> what it points to, for every descriptor the processes hold: a deleted temporary file is
    still readable through the former."""
    found = {}
    for pid in pids:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                found[descriptor] = os.readlink(descriptor)
            except OSError:
                continue
    return found


def scan_open_files(pids: Iterable[int], temporary: Path, needles: dict[str, bytes]) -> tuple[set[str], int]:
    """Scan every regular file the processes hold open; returns the hits and the bytes read from files in
    `temporary` (the upload spools, deleted but readable)."""
    held = open_files(pids)
    spools = [descriptor for descriptor, target in held.items() if target.startswith(str(temporary))]
    others = [descriptor for descriptor in held if descriptor not in spools]
    result = scan(spools, needles, describe=lambda descriptor: f"{descriptor} -> {held[descriptor]}")
    spooled = result.bytes_read
    scan(others, needles, into=result, describe=lambda descriptor: f"{descriptor} -> {held[descriptor]}")
    return result.hits, spooled


# --- the tests -------------------------------------------------------------------------------------------------------


def test_the_disk_after_a_filing_holds_no_trace_of_its_text_files_names_or_messages(
    env: dict[str, str], tmp_path: Path
) -> None:
    """File a report with a large file and a photo to be cleaned, send a message with a file, stop the server, then
    read every byte it could have left: an attacker who takes the disk finds none of the markers in any form."""
    started = time.time() - 1
    markers = new_markers()
    env, database_directory = own_sqlite_database(env, tmp_path)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    server_env = {**env, "TMPDIR": str(temporary), "TEMP": str(temporary), "TMP": str(temporary)}
    log_path = tmp_path / "gunicorn.log"

    content = evidence(markers["file content"], EVIDENCE_BYTES)
    file_name = f"biên bản {markers['file name'].decode()}.bin"
    picture = photo(markers["photo EXIF"], markers["photo comment"])
    message_content = evidence(markers["message file content"], MESSAGE_FILE_BYTES)
    message_file_name = f"{markers['message file name'].decode()}.dat"
    uploaded = len(content) + len(picture) + len(message_content)

    needles = needles_for(markers)
    during = Scan()
    with gunicorn("citizen", server_env, log_path, workers=2) as base:
        browser = Browser(base)
        narrative = f"Cán bộ thu tiền ngoài biên lai, mã kiểm tra {markers['narrative'].decode()}."
        fields = {**VALID_REPORT, "narrative": narrative, "csrf_token": browser.token("/vi/report")}
        status, page = browser.post_files("/vi/report", fields, [(content, file_name), (picture, "ảnh.jpg")])
        assert status == 201, page.decode()[:2000]
        receipt = RECEIPT_PATTERN.search(page.decode()).group(1)  # type: ignore[union-attr]
        needles.update(encodings("receipt", receipt.encode()))

        message = {
            "csrf_token": browser.token("/vi/status"),
            "receipt": receipt,
            "text": f"Gửi thêm tài liệu {markers['message text'].decode()}",
        }
        status, page = browser.post_files("/vi/status/message", message, [(message_content, message_file_name)])
        # Control: everything arrived and the reporter can read it back with the receipt alone.
        assert status == 200, page.decode()[:2000]
        shown = page.decode()
        assert markers["message text"].decode() in shown
        names = FILE_NAME_PATTERN.findall(shown)
        assert sorted(names) == sorted([file_name, "ảnh.jpg", message_file_name])
        links = dict(zip(names, DOWNLOAD_PATTERN.findall(shown), strict=True))
        download = {"csrf_token": browser.token("/vi/status"), "receipt": receipt}
        status, body = browser.form(links[file_name], download)
        assert status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(content).digest()
        status, cleaned = browser.form(links["ảnh.jpg"], download)
        assert status == 200 and cleaned.startswith(b"\xff\xd8")
        assert markers["photo EXIF"] not in cleaned and markers["photo comment"] not in cleaned  # it was cleaned

        # While the server runs, the WAL still holds the latest writes.
        if database_directory is not None:
            scan(files_under(database_directory), needles, into=during)
        scan(files_under(temporary), needles, into=during)

    after = scan([log_path, *files_under(temporary)], needles)
    leaks = during.hits | after.hits
    if database_directory is not None:
        stored = scan(files_under(database_directory), needles)
        leaks |= stored.hits
        # Control: the files are in the database (as ciphertext), so finding nothing there means something.
        assert stored.bytes_read > uploaded, (stored.bytes_read, uploaded, stored.files)
        assert any(path.name == "portal.db" for path in stored.files)
        assert leaks == set()
        return
    in_postgres, stored_bytes = postgres_evidence(env["DATABASE_URL"], needles, started)
    leaks |= in_postgres.hits
    assert leaks == set()
    assert stored_bytes > uploaded, (stored_bytes, uploaded)
    if not in_postgres.files:
        pytest.skip("the PostgreSQL data directory is not readable by this user: only its rows were scanned")
    assert in_postgres.bytes_read > uploaded, (in_postgres.bytes_read, uploaded)


def test_a_file_mid_upload_is_readable_on_disk_only_as_ciphertext(env: dict[str, str], tmp_path: Path) -> None:
    """Send a large file slowly and, between pieces, read every file the worker holds open through /proc, including
    its deleted upload spool: someone reading the disk mid-upload sees no plaintext."""
    if not Path(f"/proc/{os.getpid()}/fd").is_dir():
        pytest.skip("needs /proc to read a worker's open files")
    markers = new_markers()
    env, _database_directory = own_sqlite_database(env, tmp_path)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    server_env = {**env, "TMPDIR": str(temporary), "TEMP": str(temporary), "TMP": str(temporary)}
    content = evidence(markers["file content"], 4 * MIB)
    needles = needles_for({"file content": markers["file content"], "narrative": markers["narrative"]})

    with gunicorn("citizen", server_env, tmp_path / "gunicorn.log", workers=1) as base:
        browser = Browser(base)
        narrative = f"Chuyển tiền hối lộ qua tài khoản, mã kiểm tra {markers['narrative'].decode()}."
        fields = {**VALID_REPORT, "narrative": narrative, "csrf_token": browser.token("/vi/report")}
        content_type, body = multipart(fields, [(content, "slow.bin")])
        workers = gunicorn_workers(base)
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            "Cookie": browser.cookie_header("/vi/report"),
        }
        connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=120)
        leaks: set[str] = set()
        largest_spool = 0
        try:
            connection.putrequest("POST", "/vi/report")
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.endheaders()
            piece = 256 * 1024
            for start in range(0, len(body), piece):
                connection.send(body[start : start + piece])
                time.sleep(0.05)  # let the worker parse and spool what it has
                hits, spooled = scan_open_files(workers, temporary, needles)
                leaks |= hits
                largest_spool = max(largest_spool, spooled)
            response = connection.getresponse()
            page = response.read().decode()
        finally:
            connection.close()
        assert response.status == 201, page[:2000]

    assert leaks == set()
    # Control: the spool was really read while it held most of the file, in a directory of our choosing.
    assert largest_spool > len(content) // 2, largest_spool
    assert list(temporary.iterdir()) == []
