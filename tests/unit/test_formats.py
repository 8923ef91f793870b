"""Dates, figures and file sizes written the way each language writes them."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask

from portal import create_citizen_app
from portal.i18n import file_size, long_date, number


@pytest.fixture
def app(env: dict[str, str]) -> Flask:
    return create_citizen_app(env)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("vi", ["12.345", "7,5", "1,5 MB", "850 KB", "ngày 2 tháng 9 năm 2026"]),
        ("en", ["12,345", "7.5", "1.5 MB", "850 KB", "2 September 2026"]),
    ],
)
def test_figures_follow_the_language(app: Flask, lang: str, expected: list[str]) -> None:
    with app.test_request_context(f"/{lang}/"):
        written = [number(12345), number(7.5, 1), file_size(1536 * 1024), file_size(850 * 1024)]
        written.append(long_date(date(2026, 9, 2)))
    assert written == expected
