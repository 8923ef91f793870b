"""Helpers for app tests: act as a person with a browser would (fetch the form, post it)."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

CSRF_PATTERN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
RECEIPT_PATTERN = re.compile(r'id="receipt-code">([^<]+)<')

VALID_REPORT = {
    "report_type": "THONG_TIN_TO_CAO",
    "narrative": "Cán bộ địa chính phường Ô Chợ Dừa nhận 50 triệu đồng để cấp phép xây dựng sai quy hoạch.",
    "misconduct": ["BRIBERY", "ABUSE_OF_POSITION"],
    "sector": "CONSTRUCTION",
    "ward": "00190",
    "ongoing": "YES",
    "reported_before": "NO",
    "retaliation_risk": "HIGH",
}


def csrf_token(client: FlaskClient, path: str = "/vi/report") -> str:
    match = CSRF_PATTERN.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def submit_report(client: FlaskClient, lang: str = "vi", **fields: Any) -> Any:
    data = {**VALID_REPORT, **fields}
    data.setdefault("csrf_token", csrf_token(client, f"/{lang}/report"))
    return client.post(f"/{lang}/report", data=data)


def file_report(client: FlaskClient, **fields: Any) -> str:
    """File a valid report and return the receipt shown to the person."""
    response = submit_report(client, **fields)
    assert response.status_code == 201, response.get_data(as_text=True)
    match = RECEIPT_PATTERN.search(response.get_data(as_text=True))
    assert match
    return match.group(1)
