"""Hostile text filed through the citizen portal stays inert text wherever it is shown again.

An injection corpus (HTML and JavaScript, SVG, CSS, template syntax, SQL, path traversal, bidi and
zero-width characters) is typed into every free-text field of the report form, into a reporter's
message and into file names, each piece behind a marker that says where it went. Then every page
that shows it is parsed as a browser would: the reporter's status page, the queue, the case page of
a lead and of the inspector in charge, the statistics, the admin's audit trail, and the text of the
handover ZIP.

What this proves:
- no page gains an element or attribute from a payload: no script, style, iframe or stray svg, no
  on* handler or style attribute, no link, form or source that leaves the site (javascript: included);
- every payload is shown exactly as typed, in the page's text: markup escaped once, template syntax
  not evaluated ({{7*7}} stays {{7*7}}, never 49; no configuration or secret appears);
- SQL is stored as sealed text: the tables and their row counts are intact;
- file names are served for download and packed into the ZIP without bidi, zero-width, control or
  path characters, as attachments that no browser renders;
- control characters are refused (400) and leave nothing stored; a 20,000-character line is accepted
  and every page showing it answers 200 inside an element that wraps it;
- a forged cross-site POST (no token) that echoes hostile text back into the form runs none of it.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, inspect, select
from wtforms.validators import Length

from portal import create_citizen_app
from portal.forms import TextBlock, TextLine
from portal.models import Case, Message
from portal.reports import ReportForm
from portal.settings import PROJECT_ROOT
from tests.app.test_evidence_files import gps_photo, post_multipart, receipt_of
from tests.app.test_status import look_up
from tests.helpers import VALID_REPORT, csrf_token
from tests.reviewer.test_access import database_dump
from tests.reviewer_helpers import Person, csrf, expected_state, log_in

# --- the corpus --------------------------------------------------------------------------------

PAYLOADS: dict[str, str] = {
    "script": "<script>alert(1)</script>",
    "img": "<img src=x onerror=alert(1)>",
    "svg-attribute": '"><svg onload=alert(1)>',
    "javascript-url": "javascript:alert(1)",
    "javascript-link": '<a href="javascript:alert(1)">x</a>',
    "svg-document": '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "attribute-break": "' onmouseover='alert(1)' x='",
    "textarea-break": "</textarea><script>alert(1)</script>",
    "title-break": "</title><iframe src=javascript:alert(1)>",
    "style-break": "</style><style>*{display:none}</style>",
    "css-expression": '<p style="width:expression(alert(1))">',
    "css-import": "<style>@import url(//evil.example/x.css)</style>",
    "comment": "<!-- hidden",
    "entities": "&lt;b&gt; &amp; &#60;",
    "jinja": "{{7*7}}",
    "jinja-config": "{{config.SECRET_KEY}}",
    "jinja-statement": "{% debug %}",
    "dollar": "${7*7}",
    "hash": "#{7*7}",
    "sql-drop": "'; DROP TABLE cases; --",
    "sql-or": '" OR 1=1 --',
    "traversal": "../../../../etc/passwd",
    "traversal-windows": "..\\..\\boot.ini",
    "bidi-override": "invoice\u202egpj.exe",
    "bidi-isolate": "\u2066abc\u2069def",
    "zero-width": "a\u200bb\ufeffc",
}
TEMPLATES = ("jinja", "jinja-config", "jinja-statement", "dollar", "hash")
MARKUP = tuple(key for key, payload in PAYLOADS.items() if set(payload) & set("<>\"'&"))
DIRECTION = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}
# File names as a hostile sender chooses them; the marker in each survives any cleaning of the name.
FILE_NAMES = {
    "ZF01": "<script>alert(1)</script>ZF01.txt",
    "ZF02": "<img src=x onerror=alert(1)>ZF02.svg",
    "ZF03": "'><svg onload=alert(1)>ZF03.html",  # a browser sends a double quote as %22
    "ZF04": "javascript:alert(1)ZF04",
    "ZF05": "{{7*7}}ZF05.txt",
    "ZF06": "'; DROP TABLE cases; --ZF06.sql",
    "ZF07": "../../../../etc/passwdZF07",
    "ZF08": "..\\..\\boot.iniZF08",
    "ZF09": "ZF09invoice\u202egpj.exe",
    "ZF10": "ZF10\u2066ab\u2069\u200bc\ufeff.pdf.bin",
    "ZF11": "ZF11nul\x00bell\x07escape\x1b.txt",
}
SVG_SCRIPT = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'
IDENTIFIED = {"report_type": "TO_CAO", "truthful": "y"}

# --- reading a page as a browser would ---------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
FORBIDDEN_TAGS = {
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "img", "image",
    "video", "audio", "math", "template", "noscript", "xmp", "plaintext", "portal", "foreignobject",
}  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "srcset", "poster", "data", "background", "xlink:href", "ping"}


class Page(HTMLParser):
    """Elements, attributes and text nodes of a page, each text with the elements around it."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = html
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.texts: list[tuple[str, tuple[tuple[str, str], ...]]] = []
        self.comments: list[str] = []
        self._open: list[tuple[str, str]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.elements.append((tag, attributes))
        if tag not in VOID:
            self._open.append((tag, attributes.get("class", "")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._open) - 1, -1, -1):
            if self._open[depth][0] == tag:
                del self._open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.texts.append((data, tuple(self._open)))

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.texts)

    @property
    def shown(self) -> str:
        """What a person can read: the text, and the values filled into form fields."""
        values = [value for tag, attributes in self.elements for name, value in attributes.items() if name == "value"]
        return self.text + "\n" + "\n".join(values)

    def around(self, needle: str) -> tuple[tuple[str, str], ...]:
        """The elements (tag, class) around the text node that holds `needle`."""
        for text, open_elements in self.texts:
            if needle in text:
                return open_elements
        raise AssertionError(f"{needle[:40]!r} is not in any text node")


def same_site(url: str) -> bool:
    """A link, form or source that stays on this site; a browser ignores spaces and controls in a scheme."""
    plain = re.sub(r"[\x00-\x20]", "", url).lower()
    return (
        plain == "" or plain.startswith(("#", "?")) or (plain.startswith("/") and not plain.startswith(("//", "/\\")))
    )


def assert_inert(html: str, where: str, charts: bool = False) -> Page:
    """Nothing a payload could have added: no active element, no handler, no address off the site."""
    page = Page(html)
    for tag, attributes in page.elements:
        assert tag not in FORBIDDEN_TAGS, (where, tag, attributes)
        if tag == "svg":
            assert charts and attributes.get("class") == "chart-svg", (where, "svg outside a chart", attributes)
        if tag == "meta":
            assert "http-equiv" not in attributes, (where, attributes)
        if tag == "link":
            assert attributes.get("rel") == "stylesheet" and attributes.get("href", "").startswith("/static/"), where
        for name, value in attributes.items():
            assert not name.startswith("on"), (where, tag, name, value)
            assert name not in ("style", "srcdoc"), (where, tag, name, value)
            if name in URL_ATTRIBUTES:
                assert same_site(value), (where, tag, name, value)
    assert not page.comments, (where, page.comments)
    for key in MARKUP:
        assert PAYLOADS[key] not in html, (where, f"{key} appears unescaped in the source")
    return page


def assert_shown_as_typed(page: Page, pieces: dict[str, str], where: str) -> None:
    """Each marked piece reads exactly as it was typed; template syntax was not evaluated."""
    shown = page.shown
    for marker, piece in pieces.items():
        assert marker + piece in shown, (where, marker, piece)
    for marker, piece in pieces.items():
        if piece in (PAYLOADS[key] for key in TEMPLATES):
            assert marker + "49" not in shown, (where, marker)


# --- filing the corpus -------------------------------------------------------------------------


def text_fields() -> dict[str, int]:
    """Every free-text field of the report form (identity included) and its length limit, read from the
    form itself, so a field added later is attacked too. (The hidden `website` field must stay empty.)"""
    fields: dict[str, int] = {}
    for name in (*ReportForm.REPORT_FIELDS, *ReportForm.IDENTITY_FIELDS):
        unbound = getattr(ReportForm, name)
        if issubclass(unbound.field_class, TextLine | TextBlock):
            limits = [v.max for v in unbound.kwargs.get("validators", ()) if isinstance(v, Length) and v.max > 0]
            fields[name] = min(limits)
    return fields


def fill(prefix: str, limit: int, start: int = 0) -> dict[str, str]:
    """As many marked payloads as fit in `limit` characters, starting at a different one per field."""
    pieces: dict[str, str] = {}
    used = -1
    keys = list(PAYLOADS)
    for offset in range(len(keys)):
        index = (start + offset) % len(keys)
        marker = f"{prefix}{index:02d}:"
        if used + 1 + len(marker) + len(PAYLOADS[keys[index]]) <= limit:
            pieces[marker] = PAYLOADS[keys[index]]
            used += 1 + len(marker) + len(PAYLOADS[keys[index]])
    return pieces


def joined(pieces: dict[str, str]) -> str:
    return " ".join(marker + piece for marker, piece in pieces.items())


def hostile_report() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Form data with the corpus in every free-text field, and the marked pieces placed in the report's
    fields and in the identity's (which only inspectors see, once a lead has revealed it)."""
    data: dict[str, str] = {}
    report: dict[str, str] = {}
    identity: dict[str, str] = {}
    for number, (name, limit) in enumerate(text_fields().items()):
        pieces = fill(f"ZQ{number:02d}", limit, start=number * 5)
        data[name] = joined(pieces)
        (identity if name in ReportForm.IDENTITY_FIELDS else report).update(pieces)
    return data, report, identity


def file_hostile_report(client: FlaskClient) -> tuple[str, dict[str, str], dict[str, str]]:
    data, report, identity = hostile_report()
    fields = {**VALID_REPORT, **IDENTIFIED, **data, "csrf_token": csrf_token(client)}
    files = [(SVG_SCRIPT if name.endswith(".svg") else marker.encode(), name) for marker, name in FILE_NAMES.items()]
    response = post_multipart(client, "/vi/report", fields, files[:6])
    receipt = receipt_of(response)
    assert_inert(response.get_data(as_text=True), "receipt page")
    message = fill("ZM", 10_000)
    form = {"csrf_token": csrf_token(client, "/vi/status"), "receipt": receipt, "text": joined(message)}
    sent = post_multipart(client, "/vi/status/message", form, files[6:])
    assert sent.status_code == 200, sent.get_data(as_text=True)
    return receipt, {**report, **message}, identity


@dataclass
class HostileCase:
    """One identified case filed with the corpus, revealed, assigned and answered with the corpus too."""

    receipt: str
    placed: dict[str, str]  # marker → payload, typed by the reporter in the report and a message
    identity: dict[str, str]  # marker → payload, typed by the reporter about themselves
    answer: dict[str, str]  # marker → payload, typed by the lead to the reporter
    lead: FlaskClient
    inspector: FlaskClient
    secrets: list[str] = field(default_factory=list)


def logged_in(client: FlaskClient, person: Person) -> FlaskClient:
    assert log_in(client, person).status_code == 302
    return client


def act(lead: FlaskClient, path: str, **data: str) -> None:
    page = lead.get("/vi/cases/1").get_data(as_text=True)
    response = lead.post(
        path, data={"csrf_token": csrf(lead, "/vi/cases/1"), "expected_state": expected_state(page), **data}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]


@pytest.fixture
def hostile(client: FlaskClient, reviewer_app: Flask, staff: dict[str, Person], env: dict[str, str]) -> HostileCase:
    """Case 1, as far as its text can travel: identity revealed, assigned to the inspector, answered."""
    receipt, placed, identity = file_hostile_report(client)
    lead = logged_in(reviewer_app.test_client(), staff["lead"])
    act(lead, "/vi/cases/1/assign", assignee=str(staff["inspector"].id))
    act(lead, "/vi/cases/1/reveal", reason="Cần xác minh thông tin người tố cáo.")
    answer = fill("ZA", 10_000, start=3)
    act(lead, "/vi/cases/1/message", text=joined(answer))
    inspector = logged_in(reviewer_app.test_client(), staff["inspector"])
    secrets = [env[name] for name in ("CITIZEN_SECRET_KEY", "REVIEWER_SECRET_KEY", "AUDIT_KEY", "RECEIPT_PEPPER")]
    return HostileCase(receipt, placed, identity, answer, lead, inspector, secrets)


def assert_no_secret(text: str, case: HostileCase, where: str) -> None:
    for secret in case.secrets:
        assert secret not in text, (where, "a configured secret is shown")
    assert "<Config" not in text and "&lt;Config" not in text, where


# --- where the corpus is shown -----------------------------------------------------------------


def test_the_reporter_sees_every_payload_as_typed_and_none_of_it_runs(
    client: FlaskClient, hostile: HostileCase
) -> None:
    """The reporter's page shows their own text and the inspectorate's answer: both stay text."""
    for lang in ("vi", "en"):
        response = look_up(client, hostile.receipt, lang=lang)
        assert response.status_code == 200
        page = assert_inert(response.get_data(as_text=True), f"status page {lang}")
        assert_shown_as_typed(page, hostile.placed, f"status page {lang}")
        assert_shown_as_typed(page, hostile.answer, f"status page {lang}, the lead's answer")
        assert_no_secret(page.source, hostile, "status page")


def test_lead_and_inspector_see_every_payload_as_typed_and_none_of_it_runs(hostile: HostileCase) -> None:
    """The case page is where report text meets an inspector's session: any script there acts as them."""
    for who, browser in (("lead", hostile.lead), ("inspector", hostile.inspector)):
        for lang in ("vi", "en"):
            response = browser.get(f"/{lang}/cases/1")
            assert response.status_code == 200, who
            where = f"case page for the {who} in {lang}"
            page = assert_inert(response.get_data(as_text=True), where)
            assert_shown_as_typed(page, {**hostile.placed, **hostile.identity, **hostile.answer}, where)
            assert_no_secret(page.source, hostile, where)
            # Reporter text sits in elements marked untrusted, never in the page's own labels or buttons.
            for marker in {**hostile.placed, **hostile.identity}:
                assert any("untrusted" in classes for _tag, classes in page.around(marker)), (where, marker)


def test_queue_statistics_and_audit_stay_inert_and_show_no_report_text(
    hostile: HostileCase, reviewer_app: Flask, staff: dict[str, Person]
) -> None:
    """Pages that list or count cases never echo what a reporter wrote, so nothing of it can act there."""
    admin = logged_in(reviewer_app.test_client(), staff["admin"])
    pages = {
        "queue (lead)": (hostile.lead, "/vi/cases", False),
        "queue (inspector)": (hostile.inspector, "/en/cases", False),
        "statistics": (hostile.lead, "/en/statistics", True),
        "audit trail": (admin, "/en/admin/audit", False),
        "audit trail of the case": (admin, "/vi/admin/audit?case=1", False),
    }
    for where, (browser, path, charts) in pages.items():
        response = browser.get(path)
        assert response.status_code == 200, where
        page = assert_inert(response.get_data(as_text=True), where, charts=charts)
        for marker in (*hostile.placed, *hostile.identity, *hostile.answer, *FILE_NAMES):
            assert marker not in page.source, (where, marker)
        assert_no_secret(page.source, hostile, where)
    statistics = Page(hostile.lead.get("/en/statistics").get_data(as_text=True))
    assert sum(tag == "svg" for tag, _attributes in statistics.elements) >= 1, "the charts were not drawn"


def export(lead: FlaskClient) -> zipfile.ZipFile:
    response = lead.post("/vi/cases/1/export", data={"csrf_token": csrf(lead, "/vi/cases/1")})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    return zipfile.ZipFile(io.BytesIO(response.data))


def handover_text(archive: zipfile.ZipFile) -> str:
    (name,) = [name for name in archive.namelist() if "/" not in name and name.endswith(".txt")]
    return archive.read(name).decode("utf-8")


def test_the_handover_text_holds_every_payload_as_typed_and_evaluates_no_template(hostile: HostileCase) -> None:
    """A plain text file: each payload must read exactly as typed (not HTML-escaped, not evaluated), except that
    invisible formatting characters are written out by code point instead of reordering the page."""
    text = handover_text(export(hostile.lead))
    assert not any(unicodedata.category(char) == "Cf" for char in text)
    for marker, piece in {**hostile.placed, **hostile.identity, **hostile.answer}.items():
        visible = "".join(f"<U+{ord(char):04X}>" if unicodedata.category(char) == "Cf" else char for char in piece)
        assert marker + visible in text, (marker, piece)
        if piece in (PAYLOADS[key] for key in TEMPLATES):
            assert marker + "49" not in text, marker
    assert "&lt;" not in text.replace(PAYLOADS["entities"], "")
    assert_no_secret(text, hostile, "handover text")


def has_hidden_characters(name: str) -> bool:
    return any(char in DIRECTION | INVISIBLE or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in name)


def assert_plain_name(name: str, where: str) -> None:
    assert not has_hidden_characters(name), (where, name)
    assert "/" not in name and "\\" not in name and not name.startswith("."), (where, name)


def marker_of(content: bytes) -> str:
    """Each file's content is its marker, but for the SVG, which carries a script."""
    return "ZF02" if content == SVG_SCRIPT else content.decode()


def assert_plain_download(response: Any, marker: str, where: str) -> None:
    """An opaque attachment whose name carries no direction trick, no invisible or control character and
    no path: what a browser offers to save is what the sender's marker says it is."""
    assert response.status_code == 200, where
    assert response.headers["Content-Type"] == "application/octet-stream", where
    assert response.headers["X-Content-Type-Options"] == "nosniff", where
    assert "sandbox" in response.headers["Content-Security-Policy"], where
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "\r" not in disposition and "\n" not in disposition, where
    fallback = re.search(r'filename="([^"]*)"', disposition)
    assert fallback and re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", fallback.group(1)), (where, disposition)
    assert marker in fallback.group(1), (where, disposition)
    real = unquote(disposition.split("filename*=UTF-8''", 1)[1])
    assert marker in real, (where, real)
    assert_plain_name(real, where)


def test_hostile_file_names_are_served_plain_in_both_apps_and_in_the_zip(
    client: FlaskClient, hostile: HostileCase
) -> None:
    """A file name is chosen by the sender: it must not reverse an extension on screen ("invoice\u202egpj.exe"
    shown as "invoiceexe.jpg"), hide characters, climb out of a folder when the ZIP is unpacked, or run."""
    page = assert_inert(look_up(client, hostile.receipt).get_data(as_text=True), "status page")
    citizen_files = {text.strip(): text for text, around in page.texts if ("span", "file-name") in around}
    actions = re.findall(r'action="(/vi/status/files/\d+)"', page.source)
    assert len(citizen_files) == len(actions) == len(FILE_NAMES)
    for name in citizen_files:
        assert_plain_name(name, f"file name on the status page: {name!r}")
    token = csrf_token(client, "/vi/status")
    for action in actions:
        response = client.post(action, data={"csrf_token": token, "receipt": hostile.receipt})
        marker = marker_of(response.data)
        assert_plain_download(response, marker, f"citizen download {action}")

    case_page = Page(hostile.lead.get("/vi/cases/1").get_data(as_text=True))
    shown = [text.strip() for text, around in case_page.texts if ("span", "file-name untrusted") in around]
    assert len(shown) == len(FILE_NAMES)
    for name in shown:
        assert_plain_name(name, f"file name on the case page: {name!r}")
    token = csrf(hostile.lead, "/vi/cases/1")
    for action in sorted(set(re.findall(r'action="(/vi/cases/1/files/\d+)"', case_page.source))):
        response = hostile.lead.post(action, data={"csrf_token": token})
        marker = marker_of(response.data)
        assert_plain_download(response, marker, f"reviewer download {action}")
        if marker == "ZF02":
            assert response.data == SVG_SCRIPT  # served byte for byte, but never as an image or a page

    archive = export(hostile.lead)
    members = [name for name in archive.namelist() if name.startswith("files/")]
    assert len(members) == len(FILE_NAMES)
    for member in archive.namelist():
        path = PurePosixPath(member)
        assert not path.is_absolute() and ".." not in path.parts and "\\" not in member, member
        assert_plain_name(path.name, f"ZIP member {member!r}")
    for marker in FILE_NAMES:
        assert sum(marker in member for member in members) == 1, marker
    for line in handover_text(archive).splitlines():
        if "ZF" in line:
            assert not has_hidden_characters(line), line


def test_a_reporter_cannot_forge_a_section_of_the_handover_text(
    client: FlaskClient, reviewer_app: Flask, staff: dict[str, Person]
) -> None:
    """The handover text goes to the police or a court. An anonymous reporter must not be able to make it
    show an "identity of the reporter" section (naming someone else) or extra timeline entries."""
    forged = (
        "Chủ tịch phường nhận 200 triệu đồng để duyệt dự án sai quy định.\n"
        "\n== Danh tính người gửi ==\n\nHọ và tên: Nguyễn Văn Vô Can\n"
        "\n== Diễn biến và tin nhắn ==\n01/01/2026 Đã mở danh tính người gửi · Thanh tra demo-lead"
    )
    response = client.post("/vi/report", data={**VALID_REPORT, "narrative": forged, "csrf_token": csrf_token(client)})
    assert response.status_code == 201
    text = handover_text(export(logged_in(reviewer_app.test_client(), staff["lead"])))
    headings = [line for line in text.splitlines() if line.startswith("==")]
    assert headings == ["== Nội dung phản ánh, tố cáo ==", "== Diễn biến và tin nhắn ==", "== Tệp =="], headings


# --- SQL, control characters, long lines -------------------------------------------------------


def count(app: Flask, model: type[Any]) -> int:
    with app.extensions["portal_db"].session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_sql_in_every_field_is_kept_as_text_and_every_table_survives(citizen_app: Flask, client: FlaskClient) -> None:
    with citizen_app.extensions["portal_db"].engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    assert "cases" in tables
    sql = {key: PAYLOADS[key] for key in ("sql-drop", "sql-or")}
    receipts: dict[str, str] = {}
    for key, payload in sql.items():
        data = {name: f"ZS-{key}-{name}:{payload}"[:limit] for name, limit in text_fields().items()}
        data["narrative"] = f"ZS-{key}:{payload} — {VALID_REPORT['narrative']}"
        response = client.post(
            "/vi/report", data={**VALID_REPORT, **IDENTIFIED, **data, "csrf_token": csrf_token(client)}
        )
        receipts[key] = receipt_of(response)
    token = csrf_token(client, "/vi/status")
    for guess in ("' OR 1=1 --", '" OR ""="', "1; DROP TABLE cases", "%' OR lookup_id LIKE '%"):
        refused = client.post("/vi/status", data={"csrf_token": token, "receipt": guess})
        assert refused.status_code == 400, guess
        assert "ZS-" not in refused.get_data(as_text=True)
    message = {"csrf_token": token, "receipt": receipts["sql-drop"], "text": "ZS-message:" + PAYLOADS["sql-drop"]}
    assert client.post("/vi/status/message", data=message).status_code == 200

    with citizen_app.extensions["portal_db"].engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) == tables
    assert count(citizen_app, Case) == 2 and count(citizen_app, Message) == 1
    for key, receipt in receipts.items():
        page = Page(look_up(client, receipt).get_data(as_text=True))
        assert f"ZS-{key}:{sql[key]}" in page.text
        other = next(other for other in sql if other != key)
        assert f"ZS-{other}:" not in page.text  # each receipt still finds its own case, and only it
    assert (
        "ZS-message:" + PAYLOADS["sql-drop"] in Page(look_up(client, receipts["sql-drop"]).get_data(as_text=True)).text
    )


CONTROLS = {"NUL": "\x00", "BEL": "\x07", "ESC": "\x1b[31m", "DEL": "\x7f", "U+FFFD": "\ufffd"}
LINE_ONLY = {"TAB": "\t", "LF": "\n"}
BLOCK_ONLY = {"VT": "\x0b", "FF": "\x0c"}
CONTROL_REFUSED = "This text contains characters that cannot be accepted (control characters)."


@pytest.fixture
def unlimited_app(env: dict[str, str]) -> Iterator[Flask]:
    app = create_citizen_app({**env, "RATELIMIT_ENABLED": "false"})
    yield app
    app.extensions["portal_db"].dispose()


def with_control(char: str, limit: int) -> str:
    text = f"Có ký tự lạ{char}ở giữa câu này, đủ dài để qua mọi kiểm tra khác."
    return text if len(text) <= limit else f"12{char}34"


def test_control_characters_are_refused_and_nothing_is_stored(unlimited_app: Flask) -> None:
    """A control character can hide text in a terminal, a log or an export; the form says so and keeps nothing."""
    client = unlimited_app.test_client()
    token = csrf_token(client, "/en/report")
    base = {**VALID_REPORT, **IDENTIFIED, "full_name": "Nguyễn Văn A", "contact": "0912 345 678", "csrf_token": token}
    before = database_dump(unlimited_app)
    tried = 0
    for name, limit in text_fields().items():
        is_block = issubclass(getattr(ReportForm, name).field_class, TextBlock)
        for label, char in {**CONTROLS, **(BLOCK_ONLY if is_block else LINE_ONLY)}.items():
            response = client.post("/en/report", data={**base, name: with_control(char, limit)})
            assert response.status_code == 400, (name, label, response.status_code)
            assert f'<a href="#{name}">{CONTROL_REFUSED}</a>' in response.get_data(as_text=True), (name, label)
            tried += 1
    receipt_form = {"csrf_token": token, "receipt": "ABCD\x00EFGH-JKMN-PQRS-TUVW"}
    assert client.post("/en/status", data=receipt_form).status_code == 400
    assert database_dump(unlimited_app) == before, "a refused text left something behind"
    assert tried >= 14 * 7

    # The control: the same report without the characters is accepted, and then a message with one is refused.
    accepted = {name: with_control("", limit) for name, limit in text_fields().items()}
    receipt = receipt_of(client.post("/en/report", data={**base, **accepted}))
    before = database_dump(unlimited_app)
    for label, char in {**CONTROLS, **BLOCK_ONLY}.items():
        message = {"csrf_token": token, "receipt": receipt, "text": with_control(char, 10_000)}
        refused = client.post("/en/status/message", data=message)
        assert refused.status_code == 400, label
        assert CONTROL_REFUSED in refused.get_data(as_text=True), label
    assert database_dump(unlimited_app) == before


def test_a_text_sent_as_the_files_field_is_refused_not_a_server_error(
    unlimited_app: Flask,
) -> None:
    """A tampered request may send `files` as a plain field (or a part whose header the parser cannot read
    as a file): the answer must be the form again (400), not an error page that says nothing."""
    client = unlimited_app.test_client()
    before = database_dump(unlimited_app)
    data = {**VALID_REPORT, "files": "<script>alert(1)</script>", "csrf_token": csrf_token(client)}
    response = client.post("/vi/report", data=data)
    assert response.status_code == 400
    assert_inert(response.get_data(as_text=True), "report form")
    assert database_dump(unlimited_app) == before


def css_rules() -> list[tuple[list[str], str]]:
    css = "".join((PROJECT_ROOT / "static" / "css" / name).read_text() for name in ("portal.css", "reviewer.css"))
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    return [
        ([s.strip() for s in selectors.split(",")], body)
        for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css)
    ]


def wraps(around: tuple[tuple[str, str], ...]) -> bool:
    """The element holding a text, or its parent, has a style rule that breaks an unbroken line."""
    (tag, classes), (_parent, parent_classes) = around[-1], around[-2]
    candidates = {f".{name}" for name in classes.split()} | {f".{name} {tag}" for name in parent_classes.split()}
    return any(
        candidates & set(selectors) and re.search(r"overflow-wrap:\s*anywhere|word-break:\s*break-all", body)
        for selectors, body in css_rules()
    )


def test_a_20000_character_line_is_accepted_and_every_page_showing_it_stays_whole(
    client: FlaskClient, reviewer_app: Flask, staff: dict[str, Person]
) -> None:
    """A line with no space to break at must not push the page's buttons and labels out of view."""
    line = "ZLONG" + "W" * 19_995
    reply = "ZREPLY" + "R" * 9_994
    receipt = receipt_of(
        client.post("/vi/report", data={**VALID_REPORT, "narrative": line, "csrf_token": csrf_token(client)})
    )
    message = {"csrf_token": csrf_token(client, "/vi/status"), "receipt": receipt, "text": reply}
    assert client.post("/vi/status/message", data=message).status_code == 200
    status = look_up(client, receipt)
    assert status.status_code == 200
    page = assert_inert(status.get_data(as_text=True), "status page")
    for text in (line, reply):
        assert wraps(page.around(text)), ("status page", page.around(text))

    lead = logged_in(reviewer_app.test_client(), staff["lead"])
    case = lead.get("/vi/cases/1")
    assert case.status_code == 200
    page = assert_inert(case.get_data(as_text=True), "case page")
    for text in (line, reply):
        assert wraps(page.around(text)), ("case page", page.around(text))
    assert lead.get("/vi/cases").status_code == 200
    assert line in handover_text(export(lead))


# --- a forged form that echoes hostile text back -----------------------------------------------


def test_a_forged_post_that_echoes_hostile_text_into_the_form_runs_none_of_it(
    citizen_app: Flask, client: FlaskClient
) -> None:
    """A cross-site page can post any fields to the form without a token: the expired-page answer shows
    them again, filled in. That reflection must stay text, and the refusals must store nothing."""
    receipt = receipt_of(client.post("/vi/report", data={**VALID_REPORT, "csrf_token": csrf_token(client)}))
    before = database_dump(citizen_app)
    data, report, identity = hostile_report()
    placed = {**report, **identity}
    choices = {
        name: PAYLOADS["svg-attribute"]
        for name in ("report_type", "sector", "subject_level", "ward", "ongoing", "knowledge", "retaliation_risk")
    }
    tampered = {**VALID_REPORT, **data, **choices, "misconduct": [PAYLOADS["img"], "BRIBERY"]}

    forged = client.post("/vi/report", data=tampered)  # no token: what a cross-site page sends
    assert forged.status_code == 400
    page = assert_inert(forged.get_data(as_text=True), "expired report form")
    assert_shown_as_typed(page, placed, "expired report form")

    invalid = client.post("/en/report", data={**tampered, "csrf_token": csrf_token(client)})  # choices refused
    assert invalid.status_code == 400
    page = assert_inert(invalid.get_data(as_text=True), "report form with errors")
    assert_shown_as_typed(page, placed, "report form with errors")
    assert "Not a valid choice" in page.text

    lookup = client.post(
        "/vi/status", data={"csrf_token": csrf_token(client, "/vi/status"), "receipt": PAYLOADS["img"]}
    )
    assert lookup.status_code == 400
    assert PAYLOADS["img"] in assert_inert(lookup.get_data(as_text=True), "lookup page").shown

    message = fill("ZE", 10_000)
    expired = client.post("/vi/status/message", data={"receipt": receipt, "text": joined(message)})
    assert expired.status_code == 400
    assert_shown_as_typed(assert_inert(expired.get_data(as_text=True), "expired message"), message, "expired message")

    damaged = gps_photo()[:200]
    name = PAYLOADS["img"] + "\u202e.jpg"
    fields = {**VALID_REPORT, "csrf_token": csrf_token(client)}
    refused = post_multipart(client, "/vi/report", fields, [(damaged, name)])
    assert refused.status_code == 400
    assert PAYLOADS["img"] in assert_inert(refused.get_data(as_text=True), "damaged photo").text
    assert database_dump(citizen_app) == before
