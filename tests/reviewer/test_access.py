"""Who may open what in the reviewer app, as an outsider or a logged-in person would find out.

What this proves:
- every route, crawled from the URL map with every method it allows, refuses an anonymous
  request (a redirect to the login page, 403 or 405) and never shows report text; only the
  login page, static files and /healthz answer 200, and "/" only redirects;
- roles are enforced: an admin never opens a case, an inspector never opens the admin pages and
  cannot assign or reveal;
- deny by default: a route added without `@allow` answers 403 even to a logged-in lead or admin;
- every POST route refuses a request without a valid CSRF token (400) and changes nothing, while
  the same request with the token does take effect;
- every response carries the security headers, and the session cookie is HttpOnly, SameSite=Strict;
- report text is shown escaped: markup, template syntax and a bidi override stay inert text.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, text
from werkzeug.routing import Rule

from crypto.keys import KeyPair
from portal.accounts import Role
from portal.lifecycle import State
from portal.models import Case
from portal.reviewer.access import PUBLIC_ENDPOINTS
from tests.app.test_evidence_files import receipt_of, send_report
from tests.helpers import VALID_REPORT, csrf_token, file_report
from tests.reviewer_helpers import PASSWORD, Person, csrf, expected_state, log_in, make_person, with_setup_key

NARRATIVE = "Chủ tịch phường nhận phong bì 200 triệu để duyệt dự án nhà ở xã hội sai quy định."
IDENTIFIED = {
    "report_type": "TO_CAO",
    "full_name": "Nguyễn Văn Tố Cáo",
    "contact": "0912 345 678",
    "truthful": "y",
}
# Values that fill the URL map's placeholders.
ARGUMENTS = {"case_id": 1, "file_id": 1, "inspector_id": 1, "target": str(State.TRIAGE), "filename": "css/reviewer.css"}
CSRF_REFUSED = "This page has expired"


# --- helpers -----------------------------------------------------------------------------------


def database_dump(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: two dumps are equal iff nothing was stored."""
    with app.extensions["portal_db"].engine.connect() as connection:
        names = inspect(connection).get_table_names()
        return {
            name: sorted((tuple(row) for row in connection.execute(text(f'SELECT * FROM "{name}"'))), key=repr)
            for name in names
        }


def case_row(app: Flask, case_id: int = 1) -> Case:
    with app.extensions["portal_db"].session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


def url_for_rule(rule: Rule, lang: str) -> str:
    unknown = rule.arguments - set(ARGUMENTS) - {"lang"}
    assert not unknown, f"{rule.rule}: this test does not know how to fill {unknown}"
    values = {name: value for name, value in ARGUMENTS.items() if name in rule.arguments}
    if "lang" in rule.arguments:
        values["lang"] = lang
    return rule.build(values)[1]


def lang_of(path: str) -> str:
    return "en" if path.startswith("/en/") else "vi"


def is_login_redirect(response: Any, lang: str) -> bool:
    return response.status_code == 302 and response.headers["Location"] == f"/{lang}/login"


def logged_in(client: FlaskClient, person: Person, **kwargs: Any) -> FlaskClient:
    response = log_in(client, person, **kwargs)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


# --- anonymous crawl ---------------------------------------------------------------------------


def test_public_allowlist_is_exactly_login_static_root_and_healthz() -> None:
    assert PUBLIC_ENDPOINTS == {"static", "reviewer.login", "root", "health.healthz"}


def test_every_route_refuses_an_anonymous_request(
    reviewer_app: Flask, reviewer: FlaskClient, client: FlaskClient, staff: dict[str, Person]
) -> None:
    file_report(client, narrative=NARRATIVE)
    # A valid CSRF token, so that what refuses a POST is the access check, not the token check.
    token = csrf(reviewer, "/vi/login")
    before = database_dump(reviewer_app)
    answered_200: set[str] = set()
    crawled = 0
    for rule in reviewer_app.url_map.iter_rules():
        for lang in ("vi", "en"):
            path = url_for_rule(rule, lang)
            for method in sorted(rule.methods or ()):
                data = {"csrf_token": token} if method == "POST" else None
                response = reviewer.open(path, method=method, data=data)
                body = response.get_data()
                response.close()
                crawled += 1
                where = f"{method} {path} -> {response.status_code}"
                assert NARRATIVE.encode() not in body, where
                if rule.endpoint in ("static", "reviewer.login", "health.healthz"):
                    if method in ("GET", "HEAD", "OPTIONS"):
                        assert response.status_code == 200, where
                        answered_200.add(rule.endpoint)
                    else:  # the login form, posted empty
                        assert response.status_code == 400, where
                elif rule.endpoint == "root":
                    if method == "OPTIONS":
                        assert response.status_code == 200 and body == b"", where
                    else:
                        assert response.status_code == 302 and response.headers["Location"] == "/vi/", where
                else:
                    assert is_login_redirect(response, lang_of(path)) or response.status_code in (403, 405), where
    assert crawled > 60
    assert answered_200 == {"static", "reviewer.login", "health.healthz"}
    # "/" leads to the login page, never to content.
    assert reviewer.get("/", follow_redirects=True).request.path == "/vi/login"
    # Nothing an anonymous request did was stored (no case act, no audit event, no session).
    assert database_dump(reviewer_app) == before


def test_an_anonymous_post_without_a_token_is_refused_too(reviewer: FlaskClient, staff: dict[str, Person]) -> None:
    for path in ("/vi/cases/1/note", "/vi/admin/accounts", "/vi/logout"):
        assert reviewer.post(path, data={"text": "x"}).status_code in (302, 400)
        assert reviewer.get("/vi/cases").status_code == 302


# --- roles -------------------------------------------------------------------------------------


def test_admin_never_opens_cases_but_sees_statistics(
    reviewer: FlaskClient, client: FlaskClient, staff: dict[str, Person]
) -> None:
    file_report(client, narrative=NARRATIVE)
    logged_in(reviewer, staff["admin"])
    for path in ("/vi/cases", "/vi/cases/1", "/en/cases/1"):
        response = reviewer.get(path)
        assert response.status_code == 403, path
        assert NARRATIVE not in response.get_data(as_text=True)
    assert reviewer.get("/vi/statistics").status_code == 200
    assert reviewer.get("/vi/admin/accounts").status_code == 200


def test_admin_opens_the_audit_trail(reviewer: FlaskClient, staff: dict[str, Person]) -> None:
    logged_in(reviewer, staff["admin"])
    response = reviewer.get("/en/admin/audit")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "demo-admin" in page and "Logged in" in page


def test_inspector_never_opens_admin_pages_nor_assigns_nor_reveals(
    reviewer_app: Flask, reviewer: FlaskClient, client: FlaskClient, staff: dict[str, Person]
) -> None:
    file_report(client, **IDENTIFIED)
    logged_in(reviewer, staff["inspector"])
    for path in ("/vi/admin/accounts", "/vi/admin/audit", "/en/admin/audit?actor=demo-admin"):
        assert reviewer.get(path).status_code == 403, path
    page = reviewer.get("/vi/cases/1").get_data(as_text=True)
    token, state = csrf(reviewer, "/vi/cases/1"), expected_state(page)
    before = database_dump(reviewer_app)
    assigned = reviewer.post(
        "/vi/cases/1/assign",
        data={"csrf_token": token, "expected_state": state, "assignee": str(staff["inspector"].id)},
    )
    assert assigned.status_code == 403
    revealed = reviewer.post(
        "/vi/cases/1/reveal",
        data={"csrf_token": token, "expected_state": state, "reason": "Cần xác minh thông tin người tố cáo."},
    )
    assert revealed.status_code == 403
    assert IDENTIFIED["full_name"] not in revealed.get_data(as_text=True)
    admin_post = reviewer.post("/vi/admin/accounts", data={"csrf_token": token, "username": "mole", "role": "admin"})
    assert admin_post.status_code == 403
    assert database_dump(reviewer_app) == before
    case = case_row(reviewer_app)
    assert case.assignee_id is None and case.identity_revealed_on is None


def test_lead_may_assign_and_reveal(
    reviewer_app: Flask, reviewer: FlaskClient, client: FlaskClient, staff: dict[str, Person]
) -> None:
    """The control for the refusals above: the same requests from a lead go through."""
    file_report(client, **IDENTIFIED)
    logged_in(reviewer, staff["lead"])
    page = reviewer.get("/vi/cases/1").get_data(as_text=True)
    token, state = csrf(reviewer, "/vi/cases/1"), expected_state(page)
    assigned = reviewer.post(
        "/vi/cases/1/assign",
        data={"csrf_token": token, "expected_state": state, "assignee": str(staff["inspector"].id)},
    )
    assert assigned.status_code == 302
    revealed = reviewer.post(
        "/vi/cases/1/reveal",
        data={"csrf_token": token, "expected_state": state, "reason": "Cần xác minh thông tin người tố cáo."},
    )
    assert revealed.status_code == 302
    case = case_row(reviewer_app)
    assert case.assignee_id == staff["inspector"].id and case.identity_revealed_on is not None
    assert IDENTIFIED["full_name"] in reviewer.get("/vi/cases/1").get_data(as_text=True)


# --- deny by default ---------------------------------------------------------------------------


def test_a_route_without_allow_answers_403_to_everyone(
    reviewer_app: Flask, staff: dict[str, Person], client: FlaskClient
) -> None:
    calls: list[str] = []

    def export_everything(**_values: Any) -> str:
        calls.append("called")
        return "every report in clear"

    # One route under the blueprint's language prefix and endpoint namespace, one plain app route.
    reviewer_app.add_url_rule("/<any(vi, en):lang>/export", "reviewer.export_everything", export_everything)
    reviewer_app.add_url_rule("/export-all", "export_all", export_everything, methods=["GET", "POST"])

    anonymous = reviewer_app.test_client()
    assert is_login_redirect(anonymous.get("/vi/export"), "vi")
    assert is_login_redirect(anonymous.get("/export-all"), "vi")
    for role in ("lead", "admin", "inspector"):
        browser = logged_in(reviewer_app.test_client(), staff[role])
        for path in ("/vi/export", "/en/export", "/export-all"):
            response = browser.get(path)
            assert response.status_code == 403, (role, path)
            assert "every report in clear" not in response.get_data(as_text=True)
    assert calls == []


# --- CSRF --------------------------------------------------------------------------------------


def test_every_post_route_refuses_a_request_without_a_csrf_token(
    reviewer_app: Flask, client: FlaskClient, staff: dict[str, Person], intake_keys: KeyPair
) -> None:
    receipt_of(send_report(client, [(b"scan", "scan.txt")], **IDENTIFIED))
    lead = logged_in(reviewer_app.test_client(), staff["lead"])
    admin = logged_in(reviewer_app.test_client(), staff["admin"])
    newcomer = make_person(reviewer_app, intake_keys, "newcomer", Role.INSPECTOR, enrolled=False)
    first_login = logged_in(reviewer_app.test_client(), newcomer, code="")
    newcomer = with_setup_key(first_login, newcomer)
    anonymous = reviewer_app.test_client()
    inspector_id = str(staff["inspector"].id)
    state = expected_state(lead.get("/vi/cases/1").get_data(as_text=True))
    new_password = "another long password 2"

    # endpoint -> (browser, path, form data); run in this order (the last ones end sessions).
    posts: list[tuple[str, FlaskClient, str, dict[str, Any]]] = [
        (
            "reviewer.login",
            anonymous,
            "/vi/login",
            {"username": "demo-lead", "password": PASSWORD, "code": staff["lead"].code(1)},
        ),
        ("reviewer.setup", first_login, "/vi/setup", {"new_password": new_password, "confirm": new_password}),
        (
            "reviewer.classify",
            lead,
            "/vi/cases/1/classify",
            {
                "expected_state": state,
                "report_type": "TO_CAO",
                "categories": ["BRIBERY"],
                "sector": "",
                "ward_code": "",
                "urgent": "y",
            },
        ),
        ("reviewer.assign", lead, "/vi/cases/1/assign", {"expected_state": state, "assignee": inspector_id}),
        ("reviewer.message", lead, "/vi/cases/1/message", {"expected_state": state, "text": "Xin bổ sung chứng cứ."}),
        ("reviewer.note", lead, "/vi/cases/1/note", {"expected_state": state, "text": "Ghi chú nội bộ."}),
        # Downloads and exports change nothing but the audit trail, which is what a forged request must not reach.
        ("reviewer.download", lead, "/vi/cases/1/files/1", {}),
        ("reviewer.export", lead, "/vi/cases/1/export", {}),
        (
            "reviewer.reveal",
            lead,
            "/vi/cases/1/reveal",
            {"expected_state": state, "reason": "Cần xác minh nhân thân người tố cáo."},
        ),
        ("reviewer.transition", lead, "/vi/cases/1/transition/TRIAGE", {"TRIAGE-expected_state": state}),
        (
            "reviewer.accounts_page",
            admin,
            "/vi/admin/accounts",
            {"username": "added-person", "display_name": "Trần Thị B", "role": "inspector"},
        ),
        ("reviewer.unlock", admin, f"/vi/admin/accounts/{inspector_id}/unlock", {}),
        ("reviewer.deactivate", admin, f"/vi/admin/accounts/{inspector_id}/deactivate", {}),
        (
            "reviewer.password",
            lead,
            "/vi/account/password",
            {"current_password": PASSWORD, "new_password": new_password, "confirm": new_password},
        ),
        ("reviewer.logout", lead, "/vi/logout", {}),
    ]
    post_endpoints = {rule.endpoint for rule in reviewer_app.url_map.iter_rules() if "POST" in (rule.methods or ())}
    assert {endpoint for endpoint, *_ in posts} == post_endpoints, "a POST route is not covered here"

    tokens = {
        id(anonymous): csrf(anonymous, "/vi/login"),
        id(first_login): csrf(first_login, "/vi/setup"),
        id(lead): csrf(lead, "/vi/account/password"),
        id(admin): csrf(admin, "/vi/admin/accounts"),
    }
    for endpoint, browser, path, data in posts:
        if endpoint == "reviewer.setup":
            data = {**data, "code": newcomer.code()}
        before = database_dump(reviewer_app)
        refused = browser.post(path, data=data)
        assert refused.status_code == 400, endpoint
        assert CSRF_REFUSED in browser.post(path.replace("/vi/", "/en/", 1), data=data).get_data(as_text=True)
        forged = browser.post(path, data={**data, "csrf_token": "forged-" + tokens[id(browser)][7:]})
        assert forged.status_code == 400, endpoint
        assert database_dump(reviewer_app) == before, f"{endpoint} changed something without a token"
        # The control: the very same request with the page's token takes effect.
        token_field = "TRIAGE-csrf_token" if endpoint == "reviewer.transition" else "csrf_token"
        accepted = browser.post(path, data={**data, token_field: tokens[id(browser)]})
        assert accepted.status_code in (200, 201, 302), (endpoint, accepted.get_data(as_text=True)[:2000])
        assert database_dump(reviewer_app) != before, f"{endpoint} with a token changed nothing"


# --- headers and cookies -----------------------------------------------------------------------


def assert_security_headers(response: Any, where: str) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, where
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp, where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where
    assert "no-store" in response.headers.get("Cache-Control", ""), where


def test_every_response_carries_the_security_headers(
    reviewer: FlaskClient, client: FlaskClient, staff: dict[str, Person]
) -> None:
    file_report(client)
    anonymous_pages = {
        "login page": reviewer.get("/vi/login"),
        "redirect to login": reviewer.get("/vi/cases"),
        "root redirect": reviewer.get("/"),
        "404": reviewer.get("/vi/nowhere"),
        "404 without language": reviewer.get("/nowhere"),
        "400 csrf": reviewer.post("/vi/login", data={"username": "x"}),
        "401 login failed": log_in(reviewer, Person(0, "nobody", "wrong password 123", "A" * 32)),
    }
    for where, response in anonymous_pages.items():
        assert_security_headers(response, where)
    assert anonymous_pages["404"].status_code == 404
    assert anonymous_pages["400 csrf"].status_code == 400

    logged_in(reviewer, staff["lead"])
    lead_pages = {
        "queue": reviewer.get("/vi/cases"),
        "case page": reviewer.get("/vi/cases/1"),
        "statistics": reviewer.get("/en/statistics"),
        "403": reviewer.get("/vi/admin/accounts"),
        "404 case": reviewer.get("/vi/cases/999"),
        "405": reviewer.get("/vi/logout"),
    }
    for where, response in lead_pages.items():
        assert_security_headers(response, where)
    assert [response.status_code for response in lead_pages.values()] == [200, 200, 200, 403, 404, 405]

    static = reviewer.get("/static/css/reviewer.css")
    static.close()
    assert static.status_code == 200
    assert "frame-ancestors 'none'" in static.headers["Content-Security-Policy"]
    assert static.headers["X-Content-Type-Options"] == "nosniff"


def test_session_cookie_is_httponly_and_samesite_strict(reviewer: FlaskClient, staff: dict[str, Person]) -> None:
    first = reviewer.get("/vi/login")
    response = log_in(reviewer, staff["lead"])
    assert response.status_code == 302
    for set_cookie in (first.headers.get("Set-Cookie", ""), response.headers["Set-Cookie"]):
        assert set_cookie.startswith("reviewer_session="), set_cookie
        assert "HttpOnly" in set_cookie
        assert "SameSite=Strict" in set_cookie
        assert "Path=/" in set_cookie


# --- report text is inert ----------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMAGE = "<img src=x onerror=alert(1)>"
TEMPLATE = "{{7*7}}"
BIDI = "Hợp đồng số 12\u202egpj.exe"


def test_report_markup_is_shown_escaped_to_the_lead(
    reviewer: FlaskClient, client: FlaskClient, staff: dict[str, Person]
) -> None:
    file_report(
        client,
        narrative=f"Cán bộ nhận hối lộ. {SCRIPT} {IMAGE} {TEMPLATE} Hết.",
        subject_name=SCRIPT,
        subject_position=TEMPLATE,
        subject_agency=IMAGE,
        location=BIDI,
    )
    logged_in(reviewer, staff["lead"])
    response = reviewer.get("/vi/cases/1")
    assert response.status_code == 200
    page = response.get_data(as_text=True)

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script" not in page.lower()
    assert "<img src=x" not in page
    # Each field is one inert text node in its own element; the template syntax was not evaluated.
    assert '<dd class="untrusted">&lt;script&gt;alert(1)&lt;/script&gt;</dd>' in page
    assert '<dd class="untrusted">{{7*7}}</dd>' in page
    assert (
        "Cán bộ nhận hối lộ. &lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt; {{7*7}} Hết."
        in page
    )
    # The override character stays inside the reporter's own block element: it cannot reorder
    # labels, buttons or any other text of the page.
    assert re.search('<dd class="untrusted">[^<]*\u202e[^<]*</dd>', page)
    assert page.count("\u202e") == 1

    queue = reviewer.get("/vi/cases").get_data(as_text=True)
    assert "<script" not in queue.lower() and "alert(1)" not in queue


def test_the_citizen_form_token_does_not_open_the_reviewer_app(
    reviewer: FlaskClient, client: FlaskClient, staff: dict[str, Person]
) -> None:
    """Two apps, two secrets: a token minted by the citizen portal is worthless in the reviewer app."""
    citizen_token = csrf_token(client, "/vi/report")
    reviewer.get("/vi/login")
    data = {"csrf_token": citizen_token, "username": "demo-lead", "password": PASSWORD, "code": staff["lead"].code()}
    assert reviewer.post("/vi/login", data=data).status_code == 400
    assert reviewer.get("/vi/cases").status_code == 302


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_report_filed_with_defaults_is_only_visible_after_login(
    lang: str, reviewer: FlaskClient, client: FlaskClient, staff: dict[str, Person]
) -> None:
    file_report(client)
    anonymous = reviewer.get(f"/{lang}/cases/1")
    assert is_login_redirect(anonymous, lang)
    assert VALID_REPORT["narrative"] not in anonymous.get_data(as_text=True)
    logged_in(reviewer, staff["lead"], lang=lang)
    assert VALID_REPORT["narrative"] in reviewer.get(f"/{lang}/cases/1").get_data(as_text=True)
