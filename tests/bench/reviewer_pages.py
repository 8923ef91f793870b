"""Response times of the reviewer app's queue, statistics and case pages with 100,000 cases (issue 3).

    .venv/bin/python tests/bench/reviewer_pages.py [--database sqlite|postgresql] [--cases 100000]
                                                   [--requests 200] [--profile]

Target: the queue (filtered and unfiltered) and the statistics page answer in p95 < 200 ms, a case
page (decryption and its audit event included) in < 50 ms, judged here on p95 as well.

What it does, every run from scratch:

1. makes a fresh database (an SQLite file in a temporary directory, or a new PostgreSQL schema,
   dropped at the end) and migrates it with `portal.migrate.upgrade`;
2. records an intake key pair and inserts the cases with Core executemany batches: states, deadlines
   and timelines come from a random walk through `portal.lifecycle` over 18 months of receipts;
   report types, sectors, wards, 1-3 categories, assignees, flags, messages and notes are spread
   as a busy inspectorate's would be. Every sealed blob is real (about 50 report documents of a few
   KB sealed once and reused across rows), so a case page really decrypts its report, messages,
   notes and timeline. On PostgreSQL the tables are then vacuumed and analysed (autovacuum's job in
   production); on SQLite nothing is (the app never runs ANALYZE), unless --sqlite-analyze;
3. creates an enrolled lead account (Argon2 at the `interactive` cost) and starts
   `gunicorn -c config/gunicorn/reviewer.py wsgi:reviewer` (PORTAL_ENV=production, the config's
   default number of workers), then logs in over HTTP once with the password and a TOTP code;
4. warms up, then measures, one request at a time from one client, each page: the queue unfiltered
   and with several filters, a deep page, the statistics, and case pages of random cases (each case
   view writes an audit event: a hash-chain append, committed). Any answer but 200 is an error;
5. with --profile, serves the same pages in-process (Flask test client on the same database) and
   prints where the time goes per page: SQL statements, decryption, the audit write, templates;
6. always stops gunicorn and drops the database.

This is a script, not a pytest test: its name does not match `test_*.py` and it defines no test
functions.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import platform
import random
import re
import runpy
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_PG_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
NO_LIMIT = "1000000 per minute"
USERNAME = "bench.lead"
PASSWORD = "a long enough password 1"
BATCH = 5000
HISTORY_DAYS = 548  # 18 months of receipts
INSPECTORS = 30
TARGET_MS = {"queue": 200.0, "statistics": 200.0, "case": 50.0}
# Before each page, wait for other work to use less than IDLE_PCT of a core; one client and one
# worker taking turns use about 100% of one core, so a page measured above DISTURBED_PCT shared the
# machine with something else and is measured again (--retries).
IDLE_PCT = 15.0
DISTURBED_PCT = 125.0
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
COOKIE_RE = re.compile(r"reviewer_session=([^;]*)")

# --------------------------------------------------------------------------------------------------
# Data


REPORT_TYPE_WEIGHTS = {"THONG_TIN_TO_CAO": 45, "TO_CAO": 15, "PHAN_ANH": 25, "KIEN_NGHI": 10, "KHIEU_NAI": 5}
SECTOR_WEIGHTS = {
    "LAND": 22, "CONSTRUCTION": 14, "PUBLIC_INVESTMENT": 6, "PROCUREMENT": 5, "FINANCE": 5, "TAX_CUSTOMS": 4,
    "BANKING": 2, "ENVIRONMENT": 5, "HEALTH": 6, "EDUCATION": 6, "TRANSPORT": 5, "JUSTICE": 3, "POLICE": 5,
    "LABOUR": 3, "AGRICULTURE": 2, "STATE_ENTERPRISE": 2, "ADMIN_PROCEDURES": 8, "PERSONNEL_ORG": 3, "OTHER": 4,
}  # fmt: skip
CATEGORY_WEIGHTS = {
    "BRIBERY": 20, "EMBEZZLEMENT": 8, "ABUSE_OF_POSITION": 15, "INFLUENCE_PEDDLING": 5, "HARASSMENT": 12,
    "BUYING_POSTS": 2, "PERSONNEL": 4, "GROUP_INTERESTS": 4, "WASTE": 6, "MISUSE_OF_PROPERTY": 4, "FORGERY": 3,
    "COVER_UP": 3, "DERELICTION": 8, "ETHICS": 3, "RETALIATION": 1, "OTHER": 3,
}  # fmt: skip

# The random walk through the lifecycle: from each state, where a case goes next (None: it stays
# for good) and after how many days (uniform in the range).
TRIAGE_OUTCOMES: dict[str | None, int] = {
    "ACCEPTED": 24, "NEED_INFO": 8, "TRANSFERRED": 15, "REFERRED_CRIMINAL": 2, "PAKN_HANDLING": 15,
    "MGMT_INSPECTION": 5, "REDIRECTED_COMPLAINT": 5, "ARCHIVED_INSUFFICIENT": 13, "NOT_ACCEPTED": 13,
}  # fmt: skip
FLOW: dict[str, tuple[dict[str | None, int], tuple[int, int]]] = {
    "RECEIVED": ({"TRIAGE": 1}, (0, 3)),
    "TRIAGE": (TRIAGE_OUTCOMES, (2, 18)),
    "NEED_INFO": ({"TRIAGE": 60, None: 40}, (5, 30)),
    "TRANSFERRED": ({"CLOSED": 1}, (20, 90)),
    "REFERRED_CRIMINAL": ({"CLOSED": 1}, (20, 120)),
    "NOT_ACCEPTED": ({"RE_DENOUNCED": 3, None: 97}, (10, 60)),
    "ARCHIVED_INSUFFICIENT": ({"TRIAGE": 5, None: 95}, (10, 120)),
    "MGMT_INSPECTION": ({"CLOSED": 1}, (30, 120)),
    "PAKN_HANDLING": ({"CLOSED": 1}, (5, 30)),
    "REDIRECTED_COMPLAINT": ({"CLOSED": 1}, (1, 10)),
    "ACCEPTED": ({"VERIFYING": 1}, (1, 7)),
    "VERIFYING": ({"CONCLUDED": 68, "EXTENDED": 16, "SUSPENDED": 6, "TERMINATED": 5, "WITHDRAWN": 5}, (10, 45)),
    "EXTENDED": ({"VERIFYING": 1}, (1, 3)),
    "SUSPENDED": ({"VERIFYING": 1}, (15, 60)),
    "TERMINATED": ({"CLOSED": 1}, (1, 10)),
    "WITHDRAWN": ({"CLOSED": 1}, (1, 10)),
    "CONCLUDED": ({"ACTION_TAKEN": 1}, (3, 12)),
    "ACTION_TAKEN": ({"PUBLISHED": 1}, (3, 12)),
    "PUBLISHED": ({"CLOSED": 1}, (1, 15)),
    "CLOSED": ({"RE_DENOUNCED": 2, None: 98}, (10, 60)),
    "RE_DENOUNCED": ({"TRIAGE": 30, "CLOSED": 70}, (10, 25)),
}

BODIES = ("Thanh tra Sở Xây dựng", "Thanh tra Sở Tài nguyên và Môi trường", "UBND phường", "Công an thành phố Hà Nội")
SENTENCES = (
    (
        "Cán bộ địa chính phường yêu cầu người dân nộp thêm {money} đồng ngoài lệ phí theo quy định thì mới "
        "tiếp nhận hồ sơ cấp giấy chứng nhận quyền sử dụng đất."
    ),
    "Việc này diễn ra nhiều lần trong {period}, vào buổi sáng các ngày làm việc, tại bộ phận một cửa.",
    (
        "Người nộp tiền không được cấp biên lai, và hồ sơ nào không nộp khoản tiền này đều bị trả lại với lý do "
        "thiếu giấy tờ dù đã đủ theo danh mục niêm yết công khai."
    ),
    (
        "Công trình xây dựng trái phép trên đất nông nghiệp tại {place} vẫn tiếp tục thi công dù đã có biên bản "
        "vi phạm hành chính từ nhiều tháng trước."
    ),
    (
        "Gói thầu sửa chữa trường học được giao cho một công ty do người thân của lãnh đạo đơn vị làm giám đốc, "
        "giá trúng thầu cao hơn khoảng {money} đồng so với giá thị trường."
    ),
    (
        "Một số hộ gia đình được bồi thường giải phóng mặt bằng với diện tích lớn hơn thực tế, trong khi các hộ "
        "khác bị áp giá thấp hơn quy định."
    ),
    "Tổ công tác thường xuyên dừng xe tải chở vật liệu xây dựng và nhận tiền của tài xế thay vì lập biên bản.",
    "Tôi có giữ lại tin nhắn và ảnh chụp giấy hẹn có chữ ký của cán bộ tiếp nhận, ngày {period}.",
    "Nhiều người dân trong khu phố đã gặp tình trạng tương tự và có thể xác nhận nếu được bảo vệ.",
    "Kinh phí hỗ trợ người có công của phường được chi cho các khoản tiếp khách không có chứng từ hợp lệ.",
    "Lãnh đạo đơn vị bổ nhiệm người nhà vào vị trí kế toán dù không đủ tiêu chuẩn theo quy định.",
    "Bệnh viện thu thêm tiền của người bệnh để được xếp lịch mổ sớm, mỗi trường hợp từ {money} đồng.",
)
MONEY = ("2.000.000", "5.000.000", "15.000.000", "300.000.000", "1,2 tỷ")
PERIODS = ("tháng 3 và tháng 4", "năm 2025", "quý I năm 2026", "từ tháng 9 đến nay", "ngày 12/02/2026")
PLACES = ("thôn Đông", "khu đô thị mới phía tây", "dự án nhà ở xã hội", "tổ dân phố số 5")


def report_document(rnd: random.Random, report_type: str, ward: str) -> dict[str, Any]:
    """A report as the citizen form makes it (portal/reports.py), with a narrative of 1.5-3.5 KB."""
    words = {"money": rnd.choice(MONEY), "period": rnd.choice(PERIODS), "place": rnd.choice(PLACES)}
    target = rnd.randint(1500, 3500)
    narrative = ""
    while len(narrative.encode()) < target:
        narrative += rnd.choice(SENTENCES).format(**words) + " "
    return {
        "schema": "report/1",
        "report_type": report_type,
        "misconduct": rnd.sample(list(CATEGORY_WEIGHTS), rnd.choice((1, 1, 2, 3))),
        "sector": rnd.choice(list(SECTOR_WEIGHTS)),
        "narrative": narrative.strip(),
        "money_involved": f"{words['money']} đồng mỗi hồ sơ",
        "harm": rnd.choice(("", "Người dân phải chờ nhiều tháng và mất thêm chi phí.")),
        "subject_name": rnd.choice(("Cán bộ quầy số 2", "Phó chủ tịch UBND phường", "Trưởng phòng tài vụ")),
        "subject_position": rnd.choice(("", "Cán bộ địa chính", "Kế toán trưởng")),
        "subject_agency": rnd.choice(("Bộ phận một cửa phường", "Ban quản lý dự án", "Bệnh viện quận")),
        "subject_level": rnd.choice(("WARD", "CITY", "PUBLIC_UNIT", "")),
        "period": words["period"],
        "ongoing": rnd.choice(("YES", "NO", "UNKNOWN")),
        "ward": ward,
        "former_district": rnd.choice(("", "Cầu Giấy", "Hoàng Mai")),
        "location": rnd.choice(("", "Trụ sở UBND phường", "Công trường dự án")),
        "evidence": rnd.choice(("", "Ảnh chụp giấy hẹn, tin nhắn điện thoại, ghi âm cuộc trao đổi.")),
        "knowledge": rnd.choice(("VICTIM", "EYEWITNESS", "INSIDER", "HEARSAY", "")),
        "witnesses": rnd.choice(("", "Một số hộ dân cùng tổ dân phố.")),
        "reported_before": rnd.choice(("NO", "YES")),
        "reported_before_details": "",
        "retaliation_risk": rnd.choice(("UNKNOWN", "LOW", "HIGH")),
        "protection_requested": rnd.random() < 0.1,
    }


@dataclass
class Blobs:
    """Sealed once, reused across rows: what sealing costs is not what this benchmark measures."""

    # (sealed for the intake key, sealed for the reporter, reporter's public key, its messages)
    reports: list[tuple[bytes, bytes, bytes, list[tuple[bytes, bytes]]]] = field(default_factory=list)
    identities: list[bytes] = field(default_factory=list)
    notes: list[bytes] = field(default_factory=list)
    event_details: list[bytes] = field(default_factory=list)


def seal_blobs(rnd: random.Random, intake_public: bytes, ward_codes: list[str], count: int = 50) -> Blobs:
    from crypto.keys import generate_keypair
    from crypto.sealing import seal_document
    from portal.cases import IDENTITY_KIND, MESSAGE_KIND, REPORT_KIND
    from portal.casework import EVENT_KIND, NOTE_KIND

    blobs = Blobs()
    types = list(REPORT_TYPE_WEIGHTS)
    for index in range(count):
        reporter = generate_keypair().public
        document = report_document(rnd, types[index % len(types)], rnd.choice(ward_codes))
        for_intake, for_reporter = seal_document(REPORT_KIND, document, [intake_public, reporter])
        messages = []
        for text in ("Xin bổ sung thêm ảnh chụp biên nhận.", "Đề nghị ông/bà cung cấp thêm thông tin về thời gian."):
            sealed = seal_document(MESSAGE_KIND, {"text": f"{text} ({index})"}, [intake_public, reporter])
            messages.append((sealed[0], sealed[1]))
        blobs.reports.append((for_intake, for_reporter, reporter, messages))
    for index in range(10):
        identity = {
            "full_name": f"Nguyễn Văn {chr(65 + index)}",
            "address": f"Số {index + 1} ngõ 12, Hà Nội",
            "id_number": f"0010{index:08d}",
            "contact": f"09{index:08d}",
            "consent_contact": True,
            "truthful": True,
        }
        blobs.identities.append(seal_document(IDENTITY_KIND, identity, [intake_public])[0])
        note = {"text": f"Đã đối chiếu hồ sơ lưu trữ, cần xác minh thêm tại phường ({index})."}
        blobs.notes.append(seal_document(NOTE_KIND, note, [intake_public])[0])
        detail = {"text": f"Lý do: theo kết quả phân loại ({index}).", "body": rnd.choice(BODIES), "extension": ""}
        blobs.event_details.append(seal_document(EVENT_KIND, detail, [intake_public])[0])
    return blobs


def weighted(rnd: random.Random, weights: dict[Any, int]) -> Any:
    return rnd.choices(list(weights), list(weights.values()))[0]


def walk(rnd: random.Random, received: date, report_type: str, calendar: Any, today: date) -> tuple[Any, list]:
    """The case's clock now and its transitions [(on, from, to)], by a random walk up to today."""
    from portal import lifecycle
    from portal.lifecycle import Extension, State, TransitionError

    identified = report_type == "TO_CAO"
    clock = lifecycle.filed(report_type, received, calendar)
    steps = []
    while True:
        targets, (low, high) = FLOW[str(clock.state)]
        target = weighted(rnd, targets)
        on = clock.state_since + timedelta(days=rnd.randint(low, high))
        if target is None or on > today:
            return clock, steps
        extension = None
        if target == "EXTENDED":
            extension = Extension.ESPECIALLY_COMPLEX if rnd.random() < 0.15 else Extension.COMPLEX
        try:
            moved = lifecycle.advance(clock, State(target), on, calendar, identified=identified, extension=extension)
        except TransitionError:  # e.g. no extension left: the case stays where it is
            return clock, steps
        steps.append((on, str(clock.state), target, extension))
        clock = moved


def seed(url: str, cases: int, rnd: random.Random, keys: Any, secret_key: str, log: Callable[[str], None]) -> str:
    """Migrate, record the intake key, insert the inspectors and the cases; returns the lead's TOTP key."""
    from sqlalchemy import insert, select

    from crypto.keyring import Keyring
    from crypto.keys import key_id
    from crypto.wrapping import INTERACTIVE, generate_recovery_passphrase, wrap_with_passphrase
    from portal import accounts, totp
    from portal.accounts import Role, utcnow
    from portal.cases import clock_values
    from portal.db import Database
    from portal.migrate import upgrade
    from portal.models import Case, CaseCategory, CaseEvent, CaseNote, Inspector, IntakeKey, Message, ReferenceCounter
    from portal.taxonomy import wards
    from portal.workdays import today as today_in_hanoi
    from portal.workdays import vietnam_calendar

    started = time.perf_counter()
    upgrade(url)
    db = Database(url)
    today = today_in_hanoi()
    calendar = vietnam_calendar()
    kid = key_id(keys.public)
    ward_codes = [ward.code for ward in wards()]
    blobs = seal_blobs(rnd, keys.public, ward_codes)

    # The lead logs in for real: Argon2 at the interactive cost, as KDF_COST=interactive in the server.
    lead = accounts.new_account(
        username=USERNAME,
        display_name="Trưởng đoàn Benchmark",
        role=Role.LEAD,
        keyring=Keyring({kid: keys}),
        cost=INTERACTIVE,
        app_secret_key=secret_key,
    )
    accounts.password_secrets(PASSWORD, Keyring({kid: keys}), INTERACTIVE).apply_to(lead.inspector)
    # Enrolled already, with a key the benchmark knows (a real account gets its key at its first login).
    lead_totp_secret = totp.new_secret()
    lead.inspector.encrypted_totp_secret = totp.encrypt_secret(lead_totp_secret, secret_key)
    lead.inspector.totp_enrolled = True
    with db.transaction() as session:
        session.add(
            IntakeKey(
                id=kid,
                public_key=keys.public,
                recovery_wrapped_private_key=wrap_with_passphrase(
                    keys.private, generate_recovery_passphrase(), INTERACTIVE
                ),
                created_on=today - timedelta(days=HISTORY_DAYS + 30),
                active=True,
            )
        )
        session.add(lead.inspector)
        # The other inspectors never log in: a placeholder hash and no key copy.
        session.execute(
            insert(Inspector),
            [
                {
                    "username": f"inspector{i:02d}",
                    "display_name": f"Thanh tra viên {i:02d}",
                    "role": str(Role.INSPECTOR),
                    "password_hash": "!",
                    "wrapped_keyring": None,
                    "encrypted_totp_secret": b"!",
                    "totp_enrolled": True,
                    "must_change_password": False,
                    "active": True,
                    "failed_logins": 0,
                    "created_at": utcnow(),
                }
                for i in range(1, INSPECTORS + 1)
            ],
        )
    with db.session() as session:
        lead_id = session.scalar(select(Inspector.id).where(Inspector.username == USERNAME))
        staff = list(session.scalars(select(Inspector.id).where(Inspector.username != USERNAME)))
    log(
        f"  key, accounts and {len(blobs.reports)} sealed report templates ready ({time.perf_counter() - started:.1f} s)"
    )

    tables = {"cases": [], "case_categories": [], "case_events": [], "messages": [], "case_notes": []}
    targets = {
        "cases": Case.__table__,
        "case_categories": CaseCategory.__table__,
        "case_events": CaseEvent.__table__,
        "messages": Message.__table__,
        "case_notes": CaseNote.__table__,
    }
    totals = dict.fromkeys(tables, 0)
    counters: dict[int, int] = defaultdict(int)
    # Receipt dates, oldest first, so ids and references grow with time as filing would make them.
    received_days = sorted(today - timedelta(days=rnd.randrange(HISTORY_DAYS)) for _ in range(cases))

    def flush() -> None:
        with db.engine.begin() as connection:
            for name, rows in tables.items():
                if rows:
                    connection.execute(targets[name].insert(), rows)
                    totals[name] += len(rows)
                    rows.clear()

    ids = dict.fromkeys(("case_events", "messages", "case_notes"), 0)

    # executemany binds the columns of a batch's first row: every row of a table names the same ones.
    defaults = {"case_events": {"from_state": None, "to_state": None, "sealed_detail": None}}

    def add(table: str, **row: Any) -> None:
        row = {**defaults.get(table, {}), **row}
        if table in ids:
            ids[table] += 1
            row["id"] = ids[table]
        tables[table].append(row)

    for case_id, received in enumerate(received_days, start=1):
        report_type = weighted(rnd, REPORT_TYPE_WEIGHTS)
        clock, steps = walk(rnd, received, report_type, calendar, today)
        template = rnd.choice(blobs.reports)
        classified = clock.state != "RECEIVED"
        decided_on = steps[0][0] if steps else received
        assignee = None
        if classified and (clock.state != "TRIAGE" or rnd.random() < 0.3) and rnd.random() < 0.9:
            assignee = rnd.choice(staff) if rnd.random() < 0.95 else lead_id
        identified = report_type == "TO_CAO" or (report_type != "THONG_TIN_TO_CAO" and rnd.random() < 0.5)
        extensions = [extension for *_rest, extension in steps if extension is not None]
        forwarded = any(target in ("TRANSFERRED", "REFERRED_CRIMINAL") for _on, _source, target, _e in steps)
        counters[received.year] += 1
        add(
            "cases",
            id=case_id,
            reference=f"{received.year}-{counters[received.year]:05d}",
            lookup_id=rnd.randbytes(32),
            report_type=report_type,
            anonymous=not identified,
            received_on=received,
            **clock_values(clock),
            forwarded_to=rnd.choice(BODIES) if forwarded else None,
            intake_key_id=kid,
            reporter_public_key=template[2],
            reporter_salt=rnd.randbytes(16),
            sealed_report=template[0],
            sealed_report_for_reporter=template[1],
            sealed_identity=rnd.choice(blobs.identities) if identified else None,
            sector=weighted(rnd, SECTOR_WEIGHTS) if classified and rnd.random() < 0.95 else None,
            ward_code=rnd.choice(ward_codes) if classified and rnd.random() < 0.85 else None,
            assignee_id=assignee,
            urgent=rnd.random() < 0.05,
            protection_requested=rnd.random() < (0.15 if identified else 0.02),
            complex=bool(extensions) or rnd.random() < 0.03,
            especially_complex="ESPECIALLY_COMPLEX" in extensions,
            duplicate_of_id=rnd.randrange(1, case_id) if case_id > 1 and rnd.random() < 0.02 else None,
            identity_revealed_on=decided_on if identified and steps and rnd.random() < 0.03 else None,
        )
        if classified:
            for category in rnd.sample(list(CATEGORY_WEIGHTS), rnd.choice((1, 1, 1, 2, 2, 3))):
                add("case_categories", case_id=case_id, category=category)
            add("case_events", case_id=case_id, occurred_on=decided_on, actor_id=lead_id, kind="classification")
        if assignee is not None:
            add("case_events", case_id=case_id, occurred_on=decided_on, actor_id=lead_id, kind="assignment")
        for on, source, target, _extension in steps:
            detail = rnd.choice(blobs.event_details)
            add(
                "case_events",
                case_id=case_id,
                occurred_on=on,
                actor_id=assignee or lead_id,
                kind="transition",
                from_state=source,
                to_state=target,
                sealed_detail=detail,
            )
        if rnd.random() < 0.08:
            for number in range(rnd.randint(1, 3)):
                for_intake, for_reporter = template[3][number % len(template[3])]
                by_reporter = number % 2 == 1
                add(
                    "messages",
                    case_id=case_id,
                    author="reporter" if by_reporter else "inspector",
                    inspector_id=None if by_reporter else assignee or lead_id,
                    sent_on=min(today, received + timedelta(days=5 * (number + 1))),
                    sealed_for_intake=for_intake,
                    sealed_for_reporter=for_reporter,
                )
        if assignee is not None and rnd.random() < 0.1:
            note = rnd.choice(blobs.notes)
            add("case_notes", case_id=case_id, author_id=assignee, written_on=clock.state_since, sealed_note=note)
        if len(tables["cases"]) >= BATCH:
            flush()
            if case_id % 20000 == 0:
                log(f"  {case_id:,} cases inserted ({time.perf_counter() - started:.0f} s)")
    flush()
    with db.transaction() as session:
        session.execute(insert(ReferenceCounter), [{"year": y, "last_value": n} for y, n in sorted(counters.items())])
    with db.engine.connect() as connection:
        if not db.is_sqlite:  # explicit ids: move the sequences past them, as filing would have
            for name in ("cases", "case_events", "messages", "case_notes"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT coalesce(max(id), 1) FROM {name}))"
                )
            connection.commit()
    db.dispose()
    log(
        "  inserted "
        + ", ".join(f"{count:,} {name}" for name, count in totals.items())
        + f" in {time.perf_counter() - started:.0f} s"
    )
    return lead_totp_secret


def maintain(url: str, sqlite_analyze: bool, log: Callable[[str], None]) -> None:
    """PostgreSQL: VACUUM ANALYZE, the steady state autovacuum reaches after a bulk load. SQLite: nothing
    unless asked (the app never runs ANALYZE, so its planner has no statistics in production)."""
    from sqlalchemy import create_engine

    started = time.perf_counter()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql("VACUUM ANALYZE")
            elif sqlite_analyze:
                connection.exec_driver_sql("ANALYZE")
            else:
                return
    finally:
        engine.dispose()
    log(
        f"  {'VACUUM ANALYZE' if url.startswith('postgresql') else 'ANALYZE'} took {time.perf_counter() - started:.1f} s"
    )


# --------------------------------------------------------------------------------------------------
# Database lifecycle


class Scratch:
    """A fresh database: an SQLite file in a temporary directory or a new PostgreSQL schema."""

    def __init__(self, kind: str, workdir: Path, pg_url: str) -> None:
        self.kind = kind
        self.pg_url = pg_url
        self.schema: str | None = None
        self.path: Path | None = None
        if kind == "sqlite":
            self.path = workdir / "portal.db"
            self.url = f"sqlite:///{self.path}"
            return
        self.schema = f"bench_{uuid.uuid4().hex[:12]}"
        self._admin(f"CREATE SCHEMA {self.schema}")
        separator = "&" if "?" in pg_url else "?"
        self.url = f"{pg_url}{separator}options=-csearch_path%3D{self.schema}"

    def _admin(self, statement: str, scalar: bool = False) -> Any:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.pg_url)
        try:
            with engine.begin() as connection:
                result = connection.execute(text(statement))
                return result.scalar() if scalar else None
        finally:
            engine.dispose()

    def size_mib(self) -> float:
        if self.path is not None:
            files = [self.path, self.path.with_name(self.path.name + "-wal")]
            return sum(file.stat().st_size for file in files if file.exists()) / 2**20
        total = self._admin(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = '{self.schema}' AND c.relkind = 'r'",
            scalar=True,
        )
        return int(total or 0) / 2**20

    def drop(self) -> None:
        if self.schema is not None:
            self._admin(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
            self.schema = None


# --------------------------------------------------------------------------------------------------
# HTTP


class Client:
    """One client: http.client (it reconnects by itself when a sync worker closes the connection)."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=120)
        self.cookie = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str, float]:
        headers = {"Accept": "text/html"}
        if self.cookie:
            headers["Cookie"] = f"reviewer_session={self.cookie}"
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError):
            self.connection.close()
            return 0, "", time.perf_counter() - started
        elapsed = time.perf_counter() - started
        for value in response.headers.get_all("Set-Cookie") or []:
            match = COOKIE_RE.search(value)
            if match:
                self.cookie = match.group(1)
        return response.status, data.decode("utf-8", errors="replace"), elapsed

    def log_in(self, totp_secret: str) -> None:
        import pyotp

        status, page, _ = self.request("GET", "/vi/login")
        match = CSRF_RE.search(page)
        if status != 200 or match is None:
            raise RuntimeError(f"no login form (HTTP {status})")
        form = {"csrf_token": match.group(1), "username": USERNAME, "password": PASSWORD}
        status, _page, elapsed = self.request("POST", "/vi/login", {**form, "code": pyotp.TOTP(totp_secret).now()})
        if status != 302:
            raise RuntimeError(f"login failed (HTTP {status})")
        status, _page, _ = self.request("GET", "/vi/cases")
        if status != 200:
            raise RuntimeError(f"the queue after login answered HTTP {status}")
        status, page, _ = self.request("GET", "/vi/cases/1")
        if status != 200 or not any(sentence[:30] in page for sentence in SENTENCES):
            raise RuntimeError(f"case 1 does not show its decrypted report (HTTP {status})")
        print(f"  logged in over HTTP (Argon2 twice at the interactive cost): {elapsed * 1000:.0f} ms", flush=True)


@dataclass
class Page:
    name: str
    kind: str  # queue, statistics or case
    path: str | Callable[[], str]

    def url(self) -> str:
        return self.path() if callable(self.path) else self.path


def plan(rnd: random.Random, cases: int, assignee_id: int) -> list[Page]:
    def query(**args: Any) -> str:
        return "/vi/cases?" + urlencode(args, doseq=True)

    return [
        Page("queue, unfiltered", "queue", "/vi/cases"),
        Page("queue, triage states (3)", "queue", query(states=["RECEIVED", "TRIAGE", "NEED_INFO"])),
        Page("queue, state VERIFYING", "queue", query(states="VERIFYING")),
        Page("queue, state CLOSED (largest)", "queue", query(states="CLOSED")),
        Page("queue, sector LAND + category BRIBERY", "queue", query(sector="LAND", category="BRIBERY")),
        Page("queue, ward 00190 + sector LAND", "queue", query(ward_code="00190", sector="LAND")),
        Page("queue, overdue", "queue", query(overdue="1")),
        Page("queue, due within 7 days", "queue", query(due_within="7")),
        Page(f"queue, assignee {assignee_id}", "queue", query(assignee=str(assignee_id))),
        Page("queue, unassigned", "queue", query(assignee="none")),
        Page("queue, flag urgent", "queue", query(flags="urgent")),
        Page("queue, report type TO_CAO", "queue", query(report_type="TO_CAO")),
        Page("queue, page 100", "queue", query(page="100")),
        Page("queue, last page", "queue", query(page=str(cases))),
        Page("queue, CLOSED + category BRIBERY, page 50", "queue", query(states="CLOSED", category="BRIBERY", page="50")),
        Page("statistics", "statistics", "/vi/statistics"),
        Page("case page (random case)", "case", lambda: f"/vi/cases/{rnd.randint(1, cases)}"),
    ]  # fmt: skip


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(values[:8])
    return total - values[3] - values[4], total


@dataclass
class Result:
    page: Page
    times_ms: list[float]
    errors: dict[str, int]
    # Whole machine, in % of one core, while this page was measured: one client and one worker at a
    # time make about 100; much more means other work shared the cores.
    machine_busy_pct: float = 0.0

    def pct(self, fraction: float) -> float:
        ordered = sorted(self.times_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]

    @property
    def met(self) -> bool:
        return not self.errors and self.pct(0.95) < TARGET_MS[self.page.kind]


def busy_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    return 100 * (os.cpu_count() or 1) * (after[0] - before[0]) / max(1, after[1] - before[1])


def wait_until_idle(limit_pct: float, timeout: float) -> float:
    """Wait (at most `timeout` s) until the machine uses less than `limit_pct` of a core; returns the last reading."""
    deadline = time.monotonic() + timeout
    while True:
        before = machine_cpu()
        time.sleep(1.0)
        busy = busy_pct(before, machine_cpu())
        if busy < limit_pct or time.monotonic() > deadline:
            return busy


def measure_page(client: Client, page: Page, requests: int) -> Result:
    times: list[float] = []
    errors: dict[str, int] = defaultdict(int)
    before = machine_cpu()
    for _ in range(requests):
        status, _body, elapsed = client.request("GET", page.url())
        times.append(elapsed * 1000)
        if status != 200:
            errors[f"HTTP {status}" if status else "no answer"] += 1
    return Result(page, times, dict(errors), busy_pct(before, machine_cpu()))


def measure(client: Client, pages: list[Page], requests: int, warmup: int, retries: int) -> list[Result]:
    """Each page in turn, on an idle machine; a page measured while other work ran is measured again."""
    for _round in range(warmup):  # every worker compiles its templates and fills its caches
        for page in pages:
            client.request("GET", page.url())
    results = []
    for page in pages:
        for attempt in range(retries + 1):
            idle = wait_until_idle(IDLE_PCT, 120)
            result = measure_page(client, page, requests)
            if result.machine_busy_pct < DISTURBED_PCT or attempt == retries:
                break
            print(f"  {page.name:<44} disturbed (machine CPU {result.machine_busy_pct:.0f}%, idle before "
                  f"{idle:.0f}%): again", flush=True)  # fmt: skip
        results.append(result)
        print(
            f"  {page.name:<44} p50 {result.pct(0.5):7.1f}  p95 {result.pct(0.95):7.1f}  "
            f"p99 {result.pct(0.99):7.1f}  max {max(result.times_ms):7.1f} ms  errors {sum(result.errors.values())}  "
            f"machine CPU {result.machine_busy_pct:.0f}%",
            flush=True,
        )
    return results


def table(results: list[Result]) -> str:
    lines = [
        "| page | requests | p50 ms | p95 ms | p99 ms | max ms | errors | machine CPU % | target (p95) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for result in results:
        target = TARGET_MS[result.page.kind]
        verdict = "met" if result.met else "**MISSED**"
        lines.append(
            f"| {result.page.name} | {len(result.times_ms)} | {result.pct(0.5):.1f} | {result.pct(0.95):.1f} | "
            f"{result.pct(0.99):.1f} | {max(result.times_ms):.1f} | {sum(result.errors.values())} | "
            f"{result.machine_busy_pct:.0f} | "
            f"< {target:.0f} ms: {verdict} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# In-process profile: where a page's time goes


@contextmanager
def patched(owner: Any, name: str, wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, wrapper(original))
    try:
        yield
    finally:
        setattr(owner, name, original)


def profile(env: dict[str, str], pages: list[Page], lead_id: int, keys: Any, runs: int) -> None:
    """Serve each page `runs` times in this process and split its time: SQL statements (each), and
    inclusive times of the steps that matter. Printed as medians per request."""
    from contextlib import ExitStack

    from sqlalchemy import event

    from crypto.keyring import Keyring
    from crypto.keys import key_id
    from portal import casework, create_reviewer_app, triage
    from portal import statistics as stats_module
    from portal.accounts import utcnow
    from portal.db import Database
    from portal.login_sessions import READY, open_session
    from portal.models import Inspector
    from portal.reviewer import access, casefiles

    app = create_reviewer_app(env)
    db = app.extensions["portal_db"]
    with db.transaction() as write:
        token = open_session(write, write.get(Inspector, lead_id), Keyring({key_id(keys.public): keys}), READY, utcnow())
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie[access.TOKEN] = token

    steps: dict[str, float] = defaultdict(float)
    statements: dict[str, list[float]] = defaultdict(list)
    last_parameters: dict[str, Any] = {}
    started_at: list[float] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        started_at.append(time.perf_counter())

    def after(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        elapsed = time.perf_counter() - started_at.pop()
        # cursor.execute only: SQLite computes some rows later, while they are fetched (inside the steps above).
        steps["SQL execute (all statements)"] += elapsed
        key = " ".join(statement.split())
        statements[key].append(elapsed)
        last_parameters[key] = (statement, parameters)

    def timed(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def wrapper(function: Callable[..., Any]) -> Callable[..., Any]:
            def run(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    steps[name] += time.perf_counter() - started

            return run

        return wrapper

    def timed_transaction(function: Callable[..., Any]) -> Callable[..., Any]:
        @contextmanager
        def run(self: Database) -> Iterator[Any]:
            started = time.perf_counter()
            try:
                with function(self) as session:
                    yield session
            finally:
                steps["write transaction (audit event, commit)"] += time.perf_counter() - started

        return run

    engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    with ExitStack() as stack:
        stack.enter_context(patched(access, "_load_login", timed("login check (session row, keyring)")))
        stack.enter_context(patched(triage, "queue", timed("triage.queue()")))
        stack.enter_context(patched(stats_module, "overview", timed("statistics.overview()")))
        stack.enter_context(patched(casework, "open_case", timed("casework.open_case()")))
        stack.enter_context(patched(casework, "open_document", timed("decryption (open_document)")))
        stack.enter_context(patched(casefiles, "render_template", timed("render_template()")))
        stack.enter_context(patched(casefiles.accounts, "active_inspectors", timed("active_inspectors()")))
        stack.enter_context(patched(Database, "transaction", timed_transaction))
        for page in pages:
            client.get(page.url())  # warm
            totals: list[float] = []
            per_step: dict[str, list[float]] = defaultdict(list)
            statements.clear()
            last_parameters.clear()
            for _ in range(runs):
                steps.clear()
                started = time.perf_counter()
                response = client.get(page.url())
                totals.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{page.name}: HTTP {response.status_code} in-process")
                for name, seconds in steps.items():
                    per_step[name].append(seconds * 1000)
            print(f"  {page.name}: median {statistics.median(totals):.1f} ms per request (in-process)")
            for name, values in sorted(per_step.items(), key=lambda item: -statistics.median(item[1])):
                print(f"      {statistics.median(values):7.1f} ms  {name}")
            ranked = sorted(statements.items(), key=lambda item: -sum(item[1]))[:3]
            for statement, times in ranked:
                mean = 1000 * sum(times) / runs
                print(f"      {mean:7.1f} ms  SQL x{len(times) / runs:.0f}: {statement[:150]}")
            if ranked:  # the plan of the statement that took the most time
                explain(engine, *last_parameters[ranked[0][0]])
    event.remove(engine, "before_cursor_execute", before)
    event.remove(engine, "after_cursor_execute", after)
    db.dispose()


def explain(engine: Any, statement: str, parameters: Any) -> None:
    """The plan of the slowest statement: EXPLAIN QUERY PLAN (SQLite) or EXPLAIN ANALYZE (PostgreSQL)."""
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(prefix + statement, parameters).all()
    except Exception as exc:  # noqa: BLE001 - informational only
        print(f"        (no plan: {type(exc).__name__})")
        return
    for row in rows:
        print("        " + (" ".join(str(part) for part in row[-1:]) if engine.dialect.name == "sqlite" else row[0]))


# --------------------------------------------------------------------------------------------------
# Main


def server_workers() -> int:
    """What config/gunicorn/reviewer.py gives when nothing overrides it (REVIEWER_WORKERS or 2 x cores)."""
    return int(runpy.run_path(str(ROOT / "config" / "gunicorn" / "reviewer.py"))["workers"])


def versions(url: str) -> str:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                database = connection.exec_driver_sql("SHOW server_version").scalar()
                database = f"PostgreSQL {database}"
            else:
                database = f"SQLite {sqlite3.sqlite_version}"
    finally:
        engine.dispose()
    return f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {database}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help=f"admin URL for PostgreSQL (default {DEFAULT_PG_URL})")
    parser.add_argument("--cases", type=int, default=100_000, help="cases to insert (default 100000)")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per page (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured rounds over all pages first (default 10)")
    parser.add_argument(
        "--retries", type=int, default=2, help="measure a page again when other work disturbed it (default 2)"
    )
    parser.add_argument("--seed", type=int, default=3, help="random seed of the data and the case ids (default 3)")
    parser.add_argument(
        "--sqlite-analyze", action="store_true", help="run ANALYZE on SQLite after seeding (the app never does)"
    )
    parser.add_argument(
        "--profile", type=int, nargs="?", const=20, default=0, metavar="RUNS",
        help="after measuring, serve each page RUNS times in-process (default 20) and print where the time goes",
    )  # fmt: skip
    parser.add_argument("--log-dir", type=Path, help="keep gunicorn's log in this directory")
    args = parser.parse_args(argv)
    if args.cases < 1 or args.requests < 1:
        parser.error("--cases and --requests must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from crypto.keys import generate_keypair
    from tests.servers import gunicorn

    rnd = random.Random(args.seed)
    keys = generate_keypair()
    secret_key = secrets.token_urlsafe(48)
    workers = server_workers()
    with tempfile.TemporaryDirectory(prefix="reviewer-bench-") as tmp:
        workdir = Path(tmp)
        scratch = Scratch(args.database, workdir, args.pg_url)
        try:
            print(f"Machine: {versions(scratch.url)}; gunicorn sync workers: {workers}", flush=True)
            print(f"Seeding {args.cases:,} cases into {args.database} ...", flush=True)
            lead_totp_secret = seed(scratch.url, args.cases, rnd, keys, secret_key, lambda line: print(line, flush=True))
            maintain(scratch.url, args.sqlite_analyze, lambda line: print(line, flush=True))
            size = scratch.size_mib()
            print(f"  database size: {size:,.0f} MiB", flush=True)
            env = {
                "PORTAL_ENV": "production",
                "COOKIE_SECURE": "false",
                "DATABASE_URL": scratch.url,
                "REVIEWER_SECRET_KEY": secret_key,
                "AUDIT_KEY": secrets.token_urlsafe(48),
                "KDF_COST": "interactive",
                "RATELIMIT_LOGIN": NO_LIMIT,
                "PYTHONDONTWRITEBYTECODE": "1",
            }
            log_dir = args.log_dir or workdir
            log_dir.mkdir(parents=True, exist_ok=True)
            log_path = log_dir / f"reviewer-{args.database}.log"
            from sqlalchemy import create_engine, func, select

            from portal.models import AuditEvent, Inspector

            engine = create_engine(scratch.url)
            with engine.connect() as connection:
                lead_id = connection.execute(select(Inspector.id).where(Inspector.username == USERNAME)).scalar_one()
                assignee = connection.execute(select(Inspector.id).where(Inspector.username == "inspector07")).scalar()
            engine.dispose()
            pages = plan(rnd, args.cases, assignee)
            with gunicorn("reviewer", env, log_path, workers=workers) as base:
                client = Client(base)
                client.log_in(lead_totp_secret)
                print(f"Measuring {args.requests} requests per page after {args.warmup} warm-up rounds:", flush=True)
                results = measure(client, pages, args.requests, args.warmup, args.retries)
                client.connection.close()
            problems = [
                line
                for line in log_path.read_text(errors="replace").splitlines()
                if "[ERROR]" in line or "[CRITICAL]" in line
            ]
            engine = create_engine(scratch.url)
            with engine.connect() as connection:
                views = connection.execute(
                    select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "case_viewed")
                ).scalar_one()
            engine.dispose()
            print()
            print(f"### {'SQLite' if args.database == 'sqlite' else 'PostgreSQL'}, {args.cases:,} cases, "
                  f"{size:,.0f} MiB, {workers} sync workers")  # fmt: skip
            print()
            print(table(results))
            print()
            for kind in ("queue", "statistics", "case"):
                group = [result for result in results if result.page.kind == kind]
                worst = max(group, key=lambda result: result.pct(0.95))
                verdict = "met" if all(result.met for result in group) else "MISSED"
                print(f"{kind}: worst p95 {worst.pct(0.95):.1f} ms ({worst.page.name}), target < "
                      f"{TARGET_MS[kind]:.0f} ms: {verdict}")  # fmt: skip
            print(f"case views written to the audit trail (one committed hash-chain append each): {views}")
            if problems:
                print(f"gunicorn log errors ({len(problems)}):", *problems[-5:], sep="\n  ")
            if args.profile:
                print(f"\nIn-process profile ({args.profile} runs per page, medians):", flush=True)
                profile(env, pages, lead_id, keys, args.profile)
        finally:
            scratch.drop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
