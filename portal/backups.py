"""Encrypted backups: one consistent logical dump of every table, and its restore into an empty database.

Why logical, not a copy of the database file or pg_dump: the same archive restores into SQLite or
PostgreSQL (the way from the embedded default to production), it is encrypted as it is written (the
server holds only the backup public key, `crypto/archives.py`), and it streams in constant memory
however many gigabytes of evidence chunks the database holds.

Content (the plaintext inside the archive), JSON lines:

    {"format": "portal-backup", "version": 1, "revision": "0004", "dialect": "sqlite", "created_at": ...}
    {"table": "cases", "columns": [["id", "int"], ["lookup_id", "bytes"], ...]}
    [1, "c2VhbGVk...", ...]                one array per row; bytes in base64, dates in ISO 8601
    {"end": "cases", "rows": 1}
    ...                                    every table of `Base.metadata`, parents before children
    {"manifest": {"cases": 1, ...}}

Consistency: the whole dump reads one snapshot (PostgreSQL: REPEATABLE READ READ ONLY, as pg_dump
does; SQLite in WAL mode: one read transaction), so a report filed meanwhile is either entirely in
the archive or not at all, and filing never waits for the backup.

Restore: only into an empty database. The schema is made by the migrations up to the archive's
revision; every row is decrypted, verified and inserted in one transaction, which also checks the
counts, the end of the stream and the audit trail, so an archive that is damaged anywhere leaves no
row behind. Then the migrations run on to this code's head.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Column, Connection, MetaData, Table, insert, inspect, literal, select, table, text, update
from sqlalchemy.exc import NoSuchTableError

from crypto.archives import NotAnArchive, WrongArchiveKey, decrypt_archive, encrypt_archive
from crypto.errors import DecryptionError
from crypto.keys import key_id
from portal import audit
from portal.db import Database
from portal.migrate import current_revision, revisions, upgrade
from portal.models import Base

FORMAT = "portal-backup"
CONTENT_VERSION = 1
MIB = 1024 * 1024
# Rows per round trip while dumping: 4 MiB of evidence chunks. 256 cost PostgreSQL dumps ~50 MiB more peak memory for
# no measurable speed (tests/bench/backups.py).
FETCH_ROWS = 64
# Rows are inserted in batches of this many rows or bytes of content, whichever comes first.
INSERT_ROWS = 500
INSERT_BYTES = 8 * MIB
READ_BYTES = MIB
# The longest row this code writes is a sealed report in base64, a few MiB: anything far longer is refused
# before it is held in memory.
MAX_LINE_BYTES = 64 * MIB
PROGRESS_SECONDS = 5.0
_ALEMBIC_TABLE = "alembic_version"

Progress = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore refused or failed; the message says why and what to do, for the operator."""


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    revision: str
    rows: dict[str, int]
    size: int
    sha256: str


@dataclass(frozen=True)
class RestoreSummary:
    revision: str
    created_at: str
    source_dialect: str
    rows: dict[str, int]
    size: int
    sha256: str


def create_backup(db: Database, output: Path, public_key: bytes, audit_key: bytes, progress: Progress) -> BackupSummary:
    """Write the archive next to `output` under a temporary name, fsync it, make it 0600, then give it its
    name (never over an existing file); record `backup_created` in the audit trail once it is complete."""
    if output.exists():
        raise BackupError(f"{output} already exists: a backup never overwrites a file.")
    try:
        handle, temporary = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".partial")
    except OSError as error:
        raise BackupError(f"Cannot write the backup in {output.parent}: {error.strerror}.") from None
    written = _Tally()
    try:
        with os.fdopen(handle, "wb") as file, _snapshot(db) as connection:
            revision = _revision_to_back_up(connection)
            counts: dict[str, int] = {}
            content = _content(connection, revision, counts, _Meter(progress))
            for piece in written.through(encrypt_archive(public_key, content)):
                file.write(piece)
            file.flush()
            os.fchmod(file.fileno(), 0o600)
            os.fsync(file.fileno())
        _give_name(Path(temporary), output)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise BackupError(f"Writing the backup failed: {error.strerror}. No file was left behind.") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(output.parent)
    summary = BackupSummary(output, revision, counts, written.size, written.sha256.hexdigest())
    with db.transaction() as session:
        audit.record(
            session,
            audit_key,
            audit.Action.BACKUP_CREATED,
            actor=audit.COMMAND_LINE,
            detail={
                "revision": revision,
                "rows": sum(counts.values()),
                "bytes": written.size,
                "archive_sha256": summary.sha256,
                "backup_key_id": key_id(public_key),
            },
        )
    return summary


def restore_backup(
    db: Database, archive: BinaryIO, private_key: bytes, audit_key: bytes, progress: Progress
) -> RestoreSummary:
    """Restore `archive` into the empty database `db`; BackupError (and not one row stored) otherwise.

    The restored audit trail must verify with `audit_key` (the AUDIT_KEY of the server the backup came
    from); `backup_restored` is then appended to it, after its last event, in the same transaction.
    """
    read = _Tally()
    with _decryption_errors():
        lines = _lines(decrypt_archive(private_key, read.through(iter(partial(archive.read, READ_BYTES), b""))))
        header = _header(next(lines, b""))
        revision = header["revision"]
        _require_empty(db, revision)
        upgrade(db.url, revision)
        meter = _Meter(progress)
        with db.transaction() as session:
            connection = session.connection()
            _require_no_rows(connection)
            counts = _load(connection, lines, meter)
            if connection.dialect.name == "postgresql":
                _reset_sequences(connection, counts)
            # Still at the archive's revision: the audit tables have had the models' shape since 0002 and
            # archives exist from 0004 on. A migration that reshapes them must revisit this order.
            check = audit.verify(session, audit_key)
            if not check.ok:
                raise BackupError(
                    "The restored audit trail does not verify with this server's AUDIT_KEY"
                    f" ({check.problems[0]}). Set AUDIT_KEY to the value of the server the backup came from."
                    " Nothing was restored."
                )
            audit.record(
                session,
                audit_key,
                audit.Action.BACKUP_RESTORED,
                actor=audit.COMMAND_LINE,
                detail={
                    "revision": revision,
                    "rows": sum(counts.values()),
                    "archive_sha256": read.sha256.hexdigest(),
                    "archive_created_at": header["created_at"],
                },
            )
    if revision != revisions()[-1]:
        upgrade(db.url)
    return RestoreSummary(
        revision=revision,
        created_at=header["created_at"],
        source_dialect=header["dialect"],
        rows=counts,
        size=read.size,
        sha256=read.sha256.hexdigest(),
    )


# --- dump ---------------------------------------------------------------------------------------------


@contextmanager
def _snapshot(db: Database) -> Iterator[Connection]:
    """One read-only snapshot for the whole dump."""
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        # SQLite: the engine begins with a plain BEGIN, whose first read fixes the snapshot (WAL mode).
        with connection.begin():
            yield connection


def _revision_to_back_up(connection: Connection) -> str:
    revision = current_revision(connection)
    head = revisions()[-1]
    if revision is None:
        raise BackupError("The database has no schema yet: there is nothing to back up.")
    if revision != head:
        raise BackupError(
            f"The database is at revision {revision} but this code expects {head}:"
            " run `flask --app wsgi:reviewer db upgrade` first."
        )
    return revision


def _content(connection: Connection, revision: str, counts: dict[str, int], meter: _Meter) -> Iterator[bytes]:
    yield _line(
        {
            "format": FORMAT,
            "version": CONTENT_VERSION,
            "revision": revision,
            "dialect": connection.dialect.name,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    for source in Base.metadata.sorted_tables:
        tags = [_tag(column) for column in source.columns]
        yield _line(
            {"table": source.name, "columns": [[column.name, tag] for column, tag in zip(source.columns, tags)]}
        )
        encoders = [_ENCODERS[tag] for tag in tags]
        meter.start(source.name, "backing up")
        query = select(source).order_by(*source.primary_key.columns).execution_options(yield_per=FETCH_ROWS)
        for row in connection.execute(query):
            line = _line([encode(value) for encode, value in zip(encoders, row)])
            meter.row(len(line))
            yield line
        counts[source.name] = meter.rows
        meter.done()
        yield _line({"end": source.name, "rows": meter.rows})
    yield _line({"manifest": counts})


def _give_name(temporary: Path, output: Path) -> None:
    """Rename without replacing: a hard link fails if the name exists. Filesystems without hard links
    (a FAT-formatted USB disk) get a check and a rename instead."""
    try:
        os.link(temporary, output)
    except FileExistsError:
        raise BackupError(f"{output} appeared while the backup was written: it was not overwritten.") from None
    except OSError:
        if output.exists():
            raise BackupError(f"{output} appeared while the backup was written: it was not overwritten.") from None
        os.rename(temporary, output)
    else:
        temporary.unlink()


def _fsync_directory(path: Path) -> None:
    """A new name is durable only once its directory is."""
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


# --- restore ------------------------------------------------------------------------------------------


@contextmanager
def _decryption_errors() -> Iterator[None]:
    try:
        yield
    except NotAnArchive as error:
        raise BackupError(f"This file is not a backup archive of the portal ({error}).") from None
    except WrongArchiveKey as error:
        raise BackupError(
            f"This private key does not open the archive: the archive was made for backup key"
            f" {error.archive_key_id}, the key given is the private half of {error.given_key_id}."
        ) from None
    except DecryptionError as error:
        raise BackupError(f"The archive is damaged, altered or cut short ({error}). Nothing was restored.") from None


def _header(line: bytes) -> dict[str, Any]:
    header = _record(line)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupError("The archive does not hold a portal backup.")
    if header.get("version") != CONTENT_VERSION:
        raise BackupError(f"The archive's content version {header.get('version')!r} is not one this code reads.")
    if not all(isinstance(header.get(name), str) for name in ("revision", "dialect", "created_at")):
        raise BackupError("The archive's header is malformed.")
    if header["revision"] not in revisions():
        raise BackupError(
            f"The archive is at schema revision {header['revision']!r}, which this code does not know:"
            " restore it with the version of the portal that made it, or a newer one."
        )
    return header


def _require_empty(db: Database, revision: str) -> None:
    """Before any migration runs: the target may be brand new, or migrated but without a row."""
    with db.engine.connect() as connection:
        target = current_revision(connection)
        known = revisions()
        if target is not None and (target not in known or known.index(target) > known.index(revision)):
            raise BackupError(
                f"The target database is at schema revision {target}, newer than the archive's {revision}:"
                " restore into a new, empty database."
            )
        _require_no_rows(connection)


def _require_no_rows(connection: Connection) -> None:
    for name in sorted(set(inspect(connection).get_table_names()) - {_ALEMBIC_TABLE}):
        if connection.execute(select(literal(1)).select_from(table(name)).limit(1)).first() is not None:
            raise BackupError(
                f"The target database is not empty (table {name} has rows): a backup is restored only into"
                " an empty database. Nothing was changed."
            )


def _load(connection: Connection, lines: Iterator[bytes], meter: _Meter) -> dict[str, int]:
    """Insert every table's rows as they are decrypted; the counts once the manifest and the verified end of
    the stream have been read."""
    counts: dict[str, int] = {}
    for line in lines:
        record = _record(line)
        if isinstance(record, dict) and "table" in record:
            loader = _TableLoader(connection, record, meter)
            counts[loader.table.name] = loader.load(lines)
        elif isinstance(record, dict) and "manifest" in record:
            if record["manifest"] != counts:
                raise BackupError("The archive's manifest does not match its rows: it was not restored.")
            if next(lines, None) is not None:  # reading on to the end also verifies the stream's final tag
                raise BackupError("The archive holds data after its manifest: it was not restored.")
            return counts
        else:
            raise BackupError("The archive's content is malformed: it was not restored.")
    raise BackupError("The archive ends before its manifest: it was not restored.")


class _TableLoader:
    """One table's rows, inserted in batches. A column that refers to its own table (a case marked as the
    duplicate of a later case) is filled in after the table's rows, so row order never breaks a key."""

    def __init__(self, connection: Connection, record: dict[str, Any], meter: _Meter) -> None:
        self.connection = connection
        self.meter = meter
        name = record["table"]
        try:
            self.table = Table(name, MetaData(), autoload_with=connection)
        except (NoSuchTableError, TypeError):
            raise BackupError(f"The archive holds a table {name!r} that the schema does not have.") from None
        try:
            self.names = [column_name for column_name, _tag in record["columns"]]
            self.decoders = [_DECODERS[tag] for _name, tag in record["columns"]]
        except (KeyError, TypeError, ValueError):
            raise BackupError(f"The archive's columns of {name} are malformed: it was not restored.") from None
        if sorted(self.names) != sorted(self.table.columns.keys()):
            raise BackupError(f"The archive's columns of {name} do not match the schema: it was not restored.")
        self.self_references = {key.parent.name for key in self.table.foreign_keys if key.column.table is self.table}
        self.primary_key = [column.name for column in self.table.primary_key.columns]
        self.batch: list[dict[str, Any]] = []
        self.batch_bytes = 0
        self.deferred: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def load(self, lines: Iterator[bytes]) -> int:
        self.meter.start(self.table.name, "restoring")
        for line in lines:
            record = _record(line)
            if isinstance(record, list):
                self._add(record)
                self.meter.row(len(line))
            elif isinstance(record, dict) and record.get("end") == self.table.name:
                self._flush()
                for key, values in self.deferred:
                    self.connection.execute(update(self.table).filter_by(**key).values(**values))
                if record.get("rows") != self.meter.rows:
                    raise BackupError(f"The archive's row count of {self.table.name} does not match its rows.")
                self.meter.done()
                return self.meter.rows
            else:
                break
        raise BackupError(f"The archive's rows of {self.table.name} are malformed: it was not restored.")

    def _add(self, values: list[Any]) -> None:
        if len(values) != len(self.names):
            raise BackupError(f"A row of {self.table.name} in the archive is malformed: it was not restored.")
        try:
            row = {name: decode(value) for name, decode, value in zip(self.names, self.decoders, values)}
        except (TypeError, ValueError):
            raise BackupError(f"A row of {self.table.name} in the archive is malformed: it was not restored.") from None
        later = {name: row[name] for name in self.self_references if row[name] is not None}
        if later:
            self.deferred.append(({name: row[name] for name in self.primary_key}, later))
            row.update(dict.fromkeys(later))
        self.batch.append(row)
        self.batch_bytes += sum(len(value) for value in row.values() if isinstance(value, bytes))
        if len(self.batch) >= INSERT_ROWS or self.batch_bytes >= INSERT_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self.batch:
            self.connection.execute(insert(self.table), self.batch)
            self.batch = []
            self.batch_bytes = 0


def _reset_sequences(connection: Connection, counts: dict[str, int]) -> None:
    """Rows came with their ids: move each id sequence past the highest, or the next insert would collide."""
    for name in counts:
        columns = Table(name, MetaData(), autoload_with=connection).primary_key.columns
        if len(columns) == 1 and columns[0].type.python_type is int:
            column = columns[0].name
            # pg_get_serial_sequence is NULL for a key without a sequence, and setval(NULL, ...) does nothing.
            connection.execute(
                text(
                    f'SELECT setval(pg_get_serial_sequence(:table, :column), COALESCE(MAX("{column}"), 0) + 1, false)'
                    f' FROM "{name}"'
                ),
                {"table": f'"{name}"', "column": column},
            )


# --- format -------------------------------------------------------------------------------------------


def _tag(column: Column[Any]) -> str:
    python_type = column.type.python_type
    for kind, tag in _TAGS:
        if issubclass(python_type, kind):
            return tag
    raise BackupError(f"Column {column.table.name}.{column.name} has a type backups cannot store yet ({python_type}).")


# datetime before date and bool before int: each is a subclass of the other.
_TAGS: tuple[tuple[type, str], ...] = (
    (bytes, "bytes"),
    (datetime, "datetime"),
    (date, "date"),
    (bool, "bool"),
    (int, "int"),
    (str, "str"),
)


def _plain(value: Any) -> Any:
    return value


def _encode_bytes(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode("ascii")


def _encode_time(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _checked(kind: type) -> Callable[[Any], Any]:
    def decode(value: Any) -> Any:
        if value is not None and type(value) is not kind:  # type(): True is an int, 1 is not a bool
            raise TypeError(f"expected {kind.__name__}")
        return value

    return decode


def _parsed(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    def decode(value: Any) -> Any:
        return None if value is None else parse(_checked(str)(value))

    return decode


_ENCODERS: dict[str, Callable[[Any], Any]] = {
    "bytes": _encode_bytes,
    "datetime": _encode_time,
    "date": _encode_time,
    "bool": _plain,
    "int": _plain,
    "str": _plain,
}
_DECODERS: dict[str, Callable[[Any], Any]] = {
    "bytes": _parsed(partial(base64.b64decode, validate=True)),
    "datetime": _parsed(datetime.fromisoformat),
    "date": _parsed(date.fromisoformat),
    "bool": _checked(bool),
    "int": _checked(int),
    "str": _checked(str),
}


def _line(record: Any) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8") + b"\n"


def _record(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        raise BackupError("The archive's content is not valid JSON lines: it was not restored.") from None


def _lines(plaintext: Iterable[bytes]) -> Iterator[bytes]:
    pending = bytearray()
    for piece in plaintext:
        pending += piece
        start = 0
        while (end := pending.find(b"\n", start)) != -1:
            yield bytes(pending[start:end])
            start = end + 1
        del pending[:start]
        if len(pending) > MAX_LINE_BYTES:
            raise BackupError("The archive holds a line longer than any backup writes: it was not restored.")
    if pending:
        raise BackupError("The archive's content ends in the middle of a line: it was not restored.")


class _Tally:
    """Size and SHA-256 of an archive's bytes as they stream past: operators compare the hash of a copy
    with the one the audit trail recorded."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.size = 0

    def through(self, pieces: Iterable[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            self.sha256.update(piece)
            self.size += len(piece)
            yield piece


class _Meter:
    """Progress for long runs: a line per table, and one every few seconds inside a big table."""

    def __init__(self, report: Progress) -> None:
        self.report = report
        self.total_bytes = 0
        self.rows = 0
        self._table = ""
        self._verb = ""
        self._last = time.monotonic()

    def start(self, name: str, verb: str) -> None:
        self._table, self._verb, self.rows = name, verb, 0

    def row(self, size: int) -> None:
        self.rows += 1
        self.total_bytes += size
        if time.monotonic() - self._last >= PROGRESS_SECONDS:
            self._last = time.monotonic()
            self.report(
                f"  {self._verb} {self._table}: {self.rows:,} rows so far, {self.total_bytes / MIB:,.1f} MB done"
            )

    def done(self) -> None:
        self._last = time.monotonic()
        self.report(f"{self._table}: {self.rows:,} rows ({self.total_bytes / MIB:,.1f} MB done)")
