"""After a real filing through gunicorn, nothing identifying is left on disk or in the logs:
not the report's text, not the receipt, not the client's address or user agent."""

from __future__ import annotations

import http.cookiejar
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
from flask import Flask
from flask.logging import default_handler
from sqlalchemy import create_engine, inspect, text

from tests.helpers import CSRF_PATTERN, RECEIPT_PATTERN, VALID_REPORT
from tests.servers import gunicorn

pytestmark = pytest.mark.slow

FORWARDED_IP = "198.51.100.73"


class Browser:
    """A client with cookies, a distinctive user agent and a spoofed forwarding header."""

    def __init__(self, base: str, user_agent: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.headers = {"User-Agent": user_agent, "X-Forwarded-For": FORWARDED_IP, "X-Real-IP": FORWARDED_IP}

    def request(self, path: str, data: dict[str, object] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, headers=self.headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def token(self, path: str) -> str:
        return CSRF_PATTERN.search(self.request(path)[1]).group(1)  # type: ignore[union-attr]


def scan_files(paths: list[Path], needles: dict[str, bytes]) -> list[str]:
    found = []
    for path in paths:
        content = path.read_bytes()
        found += [f"{name} in {path.name}" for name, needle in needles.items() if needle in content]
    return found


def dump_tables(url: str) -> bytes:
    """Every row of every table as text (bytea as hex), for engines whose files we do not read."""
    engine = create_engine(url)
    with engine.connect() as connection:
        chunks = [
            str(row).encode()
            for table in inspect(connection).get_table_names()
            for row in connection.execute(text(f"SELECT t::text FROM {table} t"))
        ]
    engine.dispose()
    return b"\n".join(chunks)


def test_filing_leaves_no_marker_address_or_user_agent_anywhere(env: dict[str, str], tmp_path: Path) -> None:
    marker = f"MARKER-{uuid.uuid4().hex}"
    message_marker = f"MSGMARK-{uuid.uuid4().hex}"
    user_agent = f"TraceAgent/{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "gunicorn.log"
    with gunicorn("citizen", env, log_path) as base:
        browser = Browser(base, user_agent)
        status, page = browser.request(
            "/vi/report", {**VALID_REPORT, "csrf_token": browser.token("/vi/report"), "narrative": f"{marker} " * 5}
        )
        assert status == 201
        receipt = RECEIPT_PATTERN.search(page).group(1)  # type: ignore[union-attr]
        token = browser.token("/vi/status")
        assert browser.request("/vi/status", {"csrf_token": token, "receipt": receipt})[0] == 200
        assert (
            browser.request("/vi/status/message", {"csrf_token": token, "receipt": receipt, "text": message_marker})[0]
            == 200
        )
        # Errors are where addresses usually leak into logs.
        assert browser.request("/vi/status", {"csrf_token": "forged", "receipt": receipt})[0] == 400
        assert browser.request("/vi/nowhere")[0] == 404

    needles = {
        "report text": marker.encode(),
        "message text": message_marker.encode(),
        "receipt": receipt.encode(),
        "canonical receipt": receipt.replace("-", "").encode(),
        "user agent": user_agent.encode(),
        "forwarded address": FORWARDED_IP.encode(),
        "client address": b"127.0.0.1",
    }
    leaks = scan_files([log_path], needles)
    database_url = env["DATABASE_URL"]
    if database_url.startswith("sqlite"):
        database = Path(database_url.removeprefix("sqlite:///"))
        stored = b"".join(
            path.read_bytes() for path in database.parent.iterdir() if path.name.startswith(database.name)
        )
    else:
        stored = dump_tables(database_url)
    # Control: the scan does see what is stored in clear (the case's state), so silence means something.
    assert b"RECEIVED" in stored
    leaks += [
        f"{name} in the database"
        for name, needle in needles.items()
        if needle in stored or needle.hex().encode() in stored
    ]
    assert leaks == []
    assert not re.search(rb"\d+\.\d+\.\d+\.\d+", log_path.read_bytes()), log_path.read_text()


def test_the_apps_log_lines_carry_no_time_of_day(citizen_app: Flask) -> None:
    """A logged failure with the time it happened could be matched to a network log of who was online.
    (Flask writes through `default_handler` under gunicorn; pytest replaces handlers, so its format is checked.)"""
    record = logging.LogRecord(
        "portal", logging.ERROR, __file__, 1, "database unavailable: %s", ("OperationalError",), None
    )
    written = default_handler.format(record)
    assert "database unavailable: OperationalError" in written
    assert not re.search(r"\d{1,2}:\d{2}", written), written
