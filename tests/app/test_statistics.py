"""Statistics on a small hand-built data set, on both engines, and the server-drawn bar chart."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from datetime import date
from typing import Any

import pytest
from flask import Flask, render_template_string

from portal import i18n
from portal.db import Database
from portal.lifecycle import State
from portal.settings import PROJECT_ROOT
from portal.statistics import median_of_histogram, month_keys, overview
from portal.taxonomy import MISCONDUCT, wards
from tests.factories import TODAY, Factory

NUMBERS = itertools.count(1)
W1, W2 = wards()[0].code, wards()[1].code


def add_case(db: Database, *, categories: tuple[str, ...] = (), **fields: Any) -> None:
    Factory(db).case(f"T-{next(NUMBERS)}", categories=categories, **fields)


def stats(db: Database, today: date = TODAY):  # type: ignore[no-untyped-def]
    with db.session() as session:
        return overview(session, today=today)


def test_overview_on_a_hand_built_set(db: Database) -> None:
    add_case(
        db, received_on=date(2026, 3, 2), state=State.RECEIVED, answer_due_on=date(2026, 3, 10),
        categories=("BRIBERY",), sector="LAND", ward_code=W1,
    )  # fmt: skip
    add_case(
        db, received_on=date(2026, 3, 5), state=State.TRIAGE, report_type="TO_CAO", answer_due_on=TODAY,
        categories=("BRIBERY", "WASTE"), sector="LAND", ward_code=W2,
    )  # fmt: skip
    add_case(
        db, received_on=date(2026, 1, 10), state=State.CLOSED, first_decision_on=date(2026, 1, 14),
        concluded_on=date(2026, 2, 9), sector="HEALTH", ward_code=W1,
    )  # fmt: skip
    # Across the new year: 11 days to the first answer.
    add_case(
        db, received_on=date(2025, 12, 31), state=State.VERIFYING, report_type="TO_CAO",
        first_decision_on=date(2026, 1, 11), answer_due_on=date(2026, 2, 1), categories=("WASTE",),
    )  # fmt: skip
    add_case(
        db, received_on=date(2025, 4, 20), state=State.CONCLUDED, report_type="KIEN_NGHI",
        first_decision_on=date(2025, 4, 21), concluded_on=date(2025, 6, 19),
    )  # fmt: skip
    # Received before the twelve months shown: counted everywhere but in the months.
    add_case(
        db, received_on=date(2025, 3, 31), state=State.CLOSED, report_type="PHAN_ANH",
        first_decision_on=date(2025, 4, 30), concluded_on=date(2025, 5, 1),
    )  # fmt: skip

    result = stats(db)
    assert result.total == 6
    assert result.by_state == [("CLOSED", 2), ("CONCLUDED", 1), ("RECEIVED", 1), ("TRIAGE", 1), ("VERIFYING", 1)]
    assert result.by_report_type == [("THONG_TIN_TO_CAO", 2), ("TO_CAO", 2), ("KIEN_NGHI", 1), ("PHAN_ANH", 1)]
    assert result.by_category == [("BRIBERY", 2), ("WASTE", 2)]
    assert result.by_sector == [("LAND", 2), ("HEALTH", 1)]
    assert result.by_ward == sorted([(W1, 2), (W2, 1)], key=lambda row: -row[1])
    assert result.by_month == [
        ("2025-04", 1), ("2025-05", 0), ("2025-06", 0), ("2025-07", 0), ("2025-08", 0), ("2025-09", 0),
        ("2025-10", 0), ("2025-11", 0), ("2025-12", 1), ("2026-01", 1), ("2026-02", 0), ("2026-03", 2),
    ]  # fmt: skip
    # Due today is not overdue yet; due before today is.
    assert result.overdue == 2
    # First answers after 4, 11, 1 and 30 days: an even count, the mean of 4 and 11.
    assert result.median_days_to_first_answer == 7.5
    # Conclusions after 30, 60 and 31 days.
    assert result.median_days_to_conclusion == 31


def test_no_data_gives_zeros_and_no_medians(db: Database) -> None:
    result = stats(db)
    assert (result.total, result.overdue) == (0, 0)
    assert result.by_state == result.by_report_type == result.by_category == result.by_sector == result.by_ward == []
    assert result.by_month == [(key, 0) for key in month_keys(TODAY)]
    assert result.median_days_to_first_answer is None
    assert result.median_days_to_conclusion is None


def test_cases_without_answers_yet_leave_the_medians_empty(db: Database) -> None:
    add_case(db, received_on=date(2026, 3, 1))
    add_case(db, received_on=date(2026, 3, 2), first_decision_on=date(2026, 3, 2))
    result = stats(db)
    assert result.median_days_to_first_answer == 0
    assert result.median_days_to_conclusion is None


def test_months_in_december_include_the_last_day(db: Database) -> None:
    add_case(db, received_on=date(2025, 12, 31))
    add_case(db, received_on=date(2025, 1, 1))
    add_case(db, received_on=date(2024, 12, 31))
    result = stats(db, today=date(2025, 12, 31))
    assert result.by_month[0] == ("2025-01", 1)
    assert result.by_month[-1] == ("2025-12", 1)
    assert sum(count for _, count in result.by_month) == 2


def test_month_keys() -> None:
    assert month_keys(date(2026, 1, 31)) == [f"2025-{m:02d}" for m in range(2, 13)] + ["2026-01"]
    assert month_keys(date(2025, 12, 1), months=3) == ["2025-10", "2025-11", "2025-12"]


@pytest.mark.parametrize(
    ("histogram", "median"),
    [
        ({}, None),
        ({5: 1}, 5),
        ({1: 1, 3: 1}, 2),
        ({1: 2, 10: 1}, 1),
        ([(2, 3), (1, 1)], 2),
        ({0: 1, 1: 1, 2: 1, 100: 1}, 1.5),
        ({7: 0, 3: 2}, 3),
    ],
)
def test_median_of_histogram(histogram: Any, median: float | None) -> None:
    assert median_of_histogram(histogram) == median


# --- The chart macro ---------------------------------------------------------------------------

CHART = '{% from "macros/charts.html" import bar_chart %}{{ bar_chart(title, rows, label_for) }}'
CSP_BREAKERS = re.compile(r"\sstyle\s*=|<style|<script|\son[a-z]+\s*=|\b(?:src|href)\s*=", re.IGNORECASE)


@pytest.fixture
def chart_app() -> Flask:
    app = Flask("chart-test", template_folder=str(PROJECT_ROOT / "templates"))
    i18n.init_app(app)  # the filters the chart uses
    return app


def render_chart(app: Flask, title: str, rows: list[tuple[str, int]], label_for: Any) -> str:
    with app.test_request_context("/en/"):  # the texts below are the English ones
        return render_template_string(CHART, title=title, rows=rows, label_for=label_for)


def svg_of(html: str) -> ET.Element:
    return ET.fromstring(html[html.index("<svg") : html.index("</svg>") + len("</svg>")])


def test_bar_chart_works_under_the_csp_and_repeats_its_numbers_in_a_table(chart_app: Flask) -> None:
    labels = {choice.value: choice.label for choice in MISCONDUCT}
    rows = [("BRIBERY", 40), ("WASTE", 20), ("ETHICS", 0)]
    html = render_chart(chart_app, "Cases by category", rows, labels.__getitem__)

    assert not CSP_BREAKERS.search(html), CSP_BREAKERS.search(html)
    svg = svg_of(html)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    assert svg.get("role") == "img"
    title = svg.find("svg:title", ns)
    assert title is not None and title.text == "Cases by category"
    assert svg.get("aria-labelledby") == title.get("id")
    widths = [float(rect.get("width", "")) for rect in svg.iterfind(".//svg:rect", ns)]
    assert widths[0] > 0 and widths[1] == pytest.approx(widths[0] / 2) and widths[2] == 0
    assert [text.text for text in svg.iterfind(".//svg:text[@class='chart-label']", ns)] == [
        "Bribery",
        "Waste of public funds and assets",
        "Degradation of ethics and lifestyle",
    ]

    assert "<caption>Cases by category</caption>" in html
    assert re.findall(r'<th scope="row">([^<]+)</th><td class="chart-number">(\d+)</td>', html) == [
        ("Bribery", "40"),
        ("Waste of public funds and assets", "20"),
        ("Degradation of ethics and lifestyle", "0"),
    ]


def test_bar_chart_of_nothing_and_of_zeros(chart_app: Flask) -> None:
    empty = render_chart(chart_app, "Empty", [], str)
    assert "No data" in empty and not CSP_BREAKERS.search(empty)
    assert "<svg" not in empty  # an empty chart is said in words, not drawn as a blank box

    zeros = render_chart(chart_app, "Months", [("2026-01", 0), ("2026-02", 0)], str)
    assert [rect.get("width") for rect in svg_of(zeros).iter("{http://www.w3.org/2000/svg}rect")] == ["0.0", "0.0"]
    assert zeros.count('<td class="chart-number">0</td>') == 2


def test_bar_chart_escapes_labels_and_titles(chart_app: Flask) -> None:
    html = render_chart(chart_app, '<script>"x"</script>', [("x", 1)], lambda code: "<img src=x onerror=alert(1)>")
    assert "<script>" not in html and "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    svg_of(html)
