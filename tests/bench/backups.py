"""Backup and restore of a database that is mostly evidence chunks: throughput and peak memory.

    .venv/bin/python tests/bench/backups.py [--size-mb 500] [--database sqlite|postgresql|both]

For each database, from scratch:

1. makes a fresh database (an SQLite file in a temporary directory, or a new PostgreSQL database on
   TEST_DATABASE_URL's server, dropped at the end) and migrates it;
2. fills it with `--size-mb` MiB of attachment chunks (random bytes, as ciphertext looks), 64 KiB + 17 bytes
   each as the upload path stores them, spread over files of 4 MiB under one case each;
3. runs `flask --app wsgi:reviewer backup create` in its own process, timed, with its peak RSS (the kernel's
   ru_maxrss of that process, from wait4);
4. runs `flask --app wsgi:reviewer backup restore` into a second, empty database of the same engine, the same way;
5. prints MiB/s of chunk data for each step, the archive's size against the data, and each step's peak RSS.

The interpreter with the reviewer app imported peaks at ~80 MiB before any work (`backup --help`); the rest
stays constant whatever the size: 64 rows fetched at a time (4 MiB of chunks) and 8 MiB of rows per insert.

This is a script, not a pytest test: its name does not match `test_*.py` and it defines no tests.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine, insert

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from crypto.archives import format_private_key
from crypto.attachments import CHUNK_BYTES, OVERHEAD_BYTES
from crypto.keys import generate_keypair, public_key_b64
from portal.migrate import upgrade
from portal.models import Attachment, AttachmentChunk, Case
from tests.servers import new_postgres_database

DEFAULT_PG_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
MIB = 2**20
CHUNKS_PER_FILE = 64  # 4 MiB files
CHUNK = CHUNK_BYTES + OVERHEAD_BYTES


@contextmanager
def fresh_database(engine: str, directory: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite:///{directory / f'{uuid.uuid4().hex[:8]}.db'}"
        return
    server = os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG_URL
    with new_postgres_database(server, "bench_backup") as url:
        yield url


def fill(url: str, size_mb: int) -> int:
    """Chunk bytes stored: whole files of CHUNKS_PER_FILE chunks, each under its own case."""
    files = max(1, size_mb * MIB // (CHUNKS_PER_FILE * CHUNK))
    engine = create_engine(url)
    with engine.begin() as connection:
        for number in range(1, files + 1):
            connection.execute(
                insert(Case).values(
                    id=number, reference=f"2026-{number:05d}", lookup_id=os.urandom(32), report_type="TO_CAO",
                    state="RECEIVED", anonymous=True, received_on=date(2026, 3, 2), state_since=date(2026, 3, 2),
                    intake_key_id="bench", reporter_public_key=os.urandom(32), reporter_salt=os.urandom(16),
                    sealed_report=os.urandom(2048), sealed_report_for_reporter=os.urandom(2048),
                )
            )  # fmt: skip
            connection.execute(
                insert(Attachment).values(
                    id=number, case_id=number, author="reporter", sent_on=date(2026, 3, 2),
                    stream_header=os.urandom(24), chunk_count=CHUNKS_PER_FILE,
                    sealed_for_intake=os.urandom(1072), sealed_for_reporter=os.urandom(1072),
                )
            )  # fmt: skip
            connection.execute(
                insert(AttachmentChunk),
                [{"attachment_id": number, "seq": seq, "data": os.urandom(CHUNK)} for seq in range(CHUNKS_PER_FILE)],
            )
    engine.dispose()
    return files * CHUNKS_PER_FILE * CHUNK


def run(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Seconds, peak RSS in MiB and stderr of one reviewer command in its own process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi:reviewer", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # communicate() would reap the child first; read its pipes, then reap it with wait4 for its rusage.
    stdout, stderr = process.stdout.read(), process.stderr.read()  # type: ignore[union-attr]
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{stdout}\n{stderr}")
    return seconds, usage.ru_maxrss // 1024, stderr


def bench(engine: str, size_mb: int) -> None:
    keys = generate_keypair()
    with tempfile.TemporaryDirectory() as scratch, fresh_database(engine, Path(scratch)) as source:
        upgrade(source)
        stored = fill(source, size_mb)
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "PORTAL_ENV": "testing",
            "DATABASE_URL": source,
            "AUDIT_KEY": "audit-key-for-the-benchmark-only-0123456789",
            "BACKUP_PUBLIC_KEY": public_key_b64(keys.public),
            "BACKUP_PRIVATE_KEY": format_private_key(keys.private),
        }
        archive = Path(scratch) / "bench.backup"
        create_s, create_rss, _ = run(["backup", "create", "--output", str(archive)], env)
        with fresh_database(engine, Path(scratch)) as target:
            restore_s, restore_rss, _ = run(["backup", "restore", str(archive)], {**env, "DATABASE_URL": target})
        size = archive.stat().st_size
        print(
            f"{engine:<11} {stored / MIB:>8,.0f} MiB of chunks | create {create_s:6.1f} s {stored / MIB / create_s:6.1f} MiB/s"
            f" peak RSS {create_rss:4d} MiB | restore {restore_s:6.1f} s {stored / MIB / restore_s:6.1f} MiB/s"
            f" peak RSS {restore_rss:4d} MiB | archive {size / MIB:,.0f} MiB ({size / stored:.2f} x the chunks)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    options = parser.parse_args()
    for engine in ("sqlite", "postgresql") if options.database == "both" else (options.database,):
        bench(engine, options.size_mb)


if __name__ == "__main__":
    main()
