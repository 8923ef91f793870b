"""Backups from an attacker's and a failing disk's point of view.

- A thief of an archive reads nothing: no report text, file content or name, message, user name, receipt,
  case number or lookup id, and not even the ciphertext the database stores, in any encoding.
- A damaged archive (a flipped byte, a cut), the wrong private key, a mistyped one, a file that is not an
  archive, and archives forged with the backup PUBLIC key (which is no secret) that lie about their
  revision, their counts, their end or their audit trail: each is refused with a message that says what
  is wrong, and the target database is left without a single row (and restores the good archive after).
- A target that holds data is refused and left as it was; so is a restore with another AUDIT_KEY.
- An output that exists, a directory that does not, a path under a file, and a disk that fills up
  mid-write: a clear error and no file, whole or partial, left behind.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import create_engine, select

from crypto.archives import decrypt_archive, encrypt_archive, format_private_key
from crypto.keys import generate_keypair
from crypto.receipts import parse_receipt
from portal.models import AttachmentChunk, AuditEvent, Case
from tests.app.test_backups import (
    BACKUP_KEYS,
    BACKUP_PRIVATE_KEY,
    create,
    empty_database,
    engine_of,
    every_row,
    fill_through_the_apps,
    restore,
    rows_stored,
    with_backup_key,
)
from tests.app.test_evidence_files import receipt_of, send_report
from tests.helpers import file_report
from tests.reviewer_helpers import log_in

ROOT = Path(__file__).resolve().parents[2]
MARKER_TEXT = "Bí mật-7c41: Chủ tịch phường nhận 300 triệu"
MARKER_FILE = b"EVIDENCE-CONTENT-3f9d1a" * 400
MARKER_NAME = "sổ-sách-9b2e.xlsx"


@pytest.fixture
def target_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with empty_database(engine_of(database_url), tmp_path) as url:
        yield url


@pytest.fixture
def archive(env: dict[str, str], tmp_path: Path, client: Any, reviewer: Any, staff: dict) -> Path:
    """Two reports, one with a file, and an inspector who logged in and opened one: an audit trail to check."""
    receipt_of(send_report(client, [(os.urandom(200_000), "a.bin")]))
    file_report(client)
    assert log_in(reviewer, staff["inspector"]).status_code == 302
    assert reviewer.get("/vi/cases/1").status_code == 200
    path = tmp_path / "portal.backup"
    assert create(env, path).exit_code == 0
    return path


def plaintext_of(path: Path) -> bytes:
    return b"".join(decrypt_archive(BACKUP_KEYS.private, [path.read_bytes()]))


def forged(tmp_path: Path, plaintext: bytes) -> Path:
    """An archive anyone holding the backup public key can make: authentic as ciphertext, lying in content."""
    path = tmp_path / "forged.backup"
    path.write_bytes(b"".join(encrypt_archive(BACKUP_KEYS.public, [plaintext])))
    return path


def refused(result: Result, message: str) -> bool:
    """A clean refusal: a failing exit status, the message, and no exception escaping the command."""
    return result.exit_code != 0 and isinstance(result.exception, SystemExit) and message in result.output


def encoded(secret: bytes) -> list[bytes]:
    """The forms a careless archive would hold a value in: raw, hex, and base64 as a whole value."""
    return [secret, secret.hex().encode(), base64.b64encode(secret)]


# --- a thief of the archive -----------------------------------------------------------------------------


def test_the_archive_holds_nothing_readable(
    env: dict[str, str], database_url: str, tmp_path: Path, client: Any, reviewer: Any, staff: dict
) -> None:
    fill_through_the_apps(client, reviewer, staff)
    receipt = receipt_of(
        send_report(client, [(MARKER_FILE, MARKER_NAME)], narrative=MARKER_TEXT + ", có hợp đồng kèm theo.")
    )
    engine = create_engine(database_url)
    with engine.connect() as connection:
        case = connection.execute(select(Case.reference, Case.lookup_id, Case.sealed_report)).first()
        chunk = connection.scalars(select(AttachmentChunk.data)).first()
    engine.dispose()
    assert case and chunk
    path = tmp_path / "portal.backup"
    assert create(env, path).exit_code == 0

    secrets = {
        "report text": [MARKER_TEXT.encode()],
        "file content": [MARKER_FILE[:64]],
        "file name": [MARKER_NAME.encode()],
        "receipt": [receipt.encode(), parse_receipt(receipt).encode()],
        "user names": [person.username.encode() for person in staff.values()],
        "case reference": [case.reference.encode()],
        # Stored in the database as it is, and in the archive's content in base64: both must be sealed again.
        "lookup id": encoded(case.lookup_id),
        "stored ciphertext": encoded(chunk[:48]) + encoded(case.sealed_report[:48]),
    }
    data = path.read_bytes()
    found = {name for name, needles in secrets.items() for needle in needles if needle in data}
    assert not found, f"readable in the archive: {sorted(found)}"
    # The needles are real: what the database stores in clear is there once the archive is opened.
    content = plaintext_of(path)
    for name in ("user names", "case reference", "lookup id", "stored ciphertext"):
        assert any(needle in content for needle in secrets[name]), name


# --- damage, wrong keys, forgeries: refused, and not one row stored ---------------------------------------


def flip(position: Callable[[int], int]) -> Callable[[bytes], bytes]:
    def damage(data: bytes) -> bytes:
        damaged = bytearray(data)
        damaged[position(len(data))] ^= 0x01
        return bytes(damaged)

    return damage


DAMAGE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "flipped byte in the sealed file key": (flip(lambda size: 60), "damaged, altered or cut short"),
    "flipped byte in the middle": (flip(lambda size: size // 2), "damaged, altered or cut short"),
    "flipped last byte": (flip(lambda size: size - 1), "damaged, altered or cut short"),
    "cut in half": (lambda data: data[: len(data) // 2], "damaged, altered or cut short"),
    "last byte missing": (lambda data: data[:-1], "damaged, altered or cut short"),
    "bytes appended": (lambda data: data + b"\0" * 100, "damaged, altered or cut short"),
    "not an archive": (lambda data: b"SQLite format 3\0" + data[16:], "not a backup archive"),
}


def test_a_damaged_archive_is_refused_and_stores_nothing(env: dict[str, str], target_url: str, archive: Path) -> None:
    """Every kind of damage against one target (a new PostgreSQL database per kind would cost seconds each)."""
    for kind, (damage, message) in DAMAGE.items():
        damaged = archive.with_name("damaged.backup")
        damaged.write_bytes(damage(archive.read_bytes()))
        result = restore(env, target_url, damaged)
        assert refused(result, message), (kind, result.output)
        assert rows_stored(target_url) == 0, kind
    assert restore(env, target_url, archive).exit_code == 0  # the refusals left the target usable


def test_the_wrong_private_key_is_refused_and_named(env: dict[str, str], target_url: str, archive: Path) -> None:
    stranger = generate_keypair()
    result = restore(env, target_url, archive, private_key=format_private_key(stranger.private))
    assert refused(result, "This private key does not open the archive: the archive was made for backup key")
    assert rows_stored(target_url) == 0


def test_a_mistyped_private_key_is_told_apart_from_a_wrong_one(
    env: dict[str, str], target_url: str, archive: Path
) -> None:
    typo = BACKUP_PRIVATE_KEY[:-1] + ("A" if BACKUP_PRIVATE_KEY[-1] != "A" else "B")
    result = restore(env, target_url, archive, private_key=typo)
    assert refused(result, "a character was mistyped")
    assert rows_stored(target_url) == 0


def lines_of(path: Path) -> list[bytes]:
    return plaintext_of(path).splitlines(keepends=True)


def drop_a_chunk_row(lines: list[bytes]) -> list[bytes]:
    start = lines.index(next(line for line in lines if line.startswith(b'{"table":"attachment_chunks"')))
    return lines[: start + 1] + lines[start + 2 :]


def other_revision(lines: list[bytes]) -> list[bytes]:
    header = json.loads(lines[0])
    return [json.dumps({**header, "revision": "9999"}).encode() + b"\n", *lines[1:]]


def edited_audit_event(lines: list[bytes]) -> list[bytes]:
    start = lines.index(next(line for line in lines if line.startswith(b'{"table":"audit_events"')))
    event = json.loads(lines[start + 1])
    event[3] = "someone-else"  # the actor
    return [*lines[: start + 1], json.dumps(event).encode() + b"\n", *lines[start + 2 :]]


FORGERIES: dict[str, tuple[Callable[[list[bytes]], list[bytes]], str]] = {
    "a row missing": (drop_a_chunk_row, "row count of attachment_chunks does not match"),
    "no manifest": (lambda lines: lines[:-1], "ends before its manifest"),
    "data after the manifest": (lambda lines: [*lines, b"[1]\n"], "data after its manifest"),
    "an unknown revision": (other_revision, "which this code does not know"),
    "an edited audit event": (edited_audit_event, "does not verify with this server's AUDIT_KEY"),
}


def test_a_forged_archive_is_refused_and_stores_nothing(
    env: dict[str, str], target_url: str, archive: Path, tmp_path: Path
) -> None:
    for kind, (change, message) in FORGERIES.items():
        result = restore(env, target_url, forged(tmp_path, b"".join(change(lines_of(archive)))))
        assert refused(result, message), (kind, result.output)
        assert rows_stored(target_url) == 0, kind
    # The control: the same content, re-encrypted untouched, is accepted.
    assert restore(env, target_url, forged(tmp_path, plaintext_of(archive))).exit_code == 0


def test_a_target_with_data_is_refused_and_left_as_it_was(env: dict[str, str], target_url: str, archive: Path) -> None:
    assert restore(env, target_url, archive).exit_code == 0
    before = every_row(target_url)
    again = restore(env, target_url, archive)
    assert refused(again, "The target database is not empty")
    assert every_row(target_url) == before


def test_another_audit_key_is_refused(env: dict[str, str], target_url: str, archive: Path) -> None:
    """A new server set up with a fresh AUDIT_KEY would chain new events under another key than the old ones."""
    other = {**env, "AUDIT_KEY": "another-audit-key-0123456789abcdefghijklmnop"}
    result = restore(other, target_url, archive)
    assert refused(result, "Set AUDIT_KEY to the value of the server the backup came from")
    assert rows_stored(target_url) == 0


# --- where the archive is written ---------------------------------------------------------------------


def test_an_existing_file_is_never_overwritten(env: dict[str, str], tmp_path: Path, client: Any) -> None:
    file_report(client)
    path = tmp_path / "portal.backup"
    path.write_bytes(b"yesterday's backup")
    result = create(env, path)
    assert refused(result, "already exists")
    assert path.read_bytes() == b"yesterday's backup"
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".partial")]


@pytest.mark.parametrize("where", ["missing directory", "under a file"])
def test_an_unwritable_output_path_is_a_clear_error(
    env: dict[str, str], tmp_path: Path, client: Any, where: str
) -> None:
    file_report(client)
    (tmp_path / "plain-file").write_bytes(b"")
    output = tmp_path / ("missing/portal.backup" if where == "missing directory" else "plain-file/portal.backup")
    result = create(env, output)
    assert refused(result, "Cannot write the backup in"), result.output
    assert not output.exists()


def test_a_disk_that_fills_up_mid_write_leaves_no_partial_file(
    env: dict[str, str], database_url: str, tmp_path: Path, client: Any
) -> None:
    """The real command in its own process, with a file size limit standing in for a full disk (root ignores
    permissions, not RLIMIT_FSIZE): the write fails half-way through the archive."""
    receipt_of(send_report(client, [(os.urandom(1_000_000), "big.bin")]))
    out = tmp_path / "backups"
    out.mkdir()

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

    variables = {**os.environ, **with_backup_key(env), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi:reviewer", "backup", "create", "-o", str(out / "p.backup")],
        cwd=ROOT, env=variables, capture_output=True, text=True, preexec_fn=small_disk, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "Writing the backup failed: File too large. No file was left behind." in result.stderr, result.stderr
    assert os.listdir(out) == []
    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert connection.scalar(select(AuditEvent.id).where(AuditEvent.action == "backup_created")) is None
    engine.dispose()
