"""What anyone on the internet meets at the citizen portal, crawled from its URL map.

What this proves:
- every route, in both languages and with every method (allowed or not), answers with the full set of
  security headers: a CSP with default-src 'none', frame-ancestors 'none' and nothing unsafe, nosniff,
  X-Frame-Options DENY, a Referrer-Policy that keeps addresses on the site, COOP/CORP/COEP, a
  Permissions-Policy, and no-store on everything but static files; so do 404, 405, 413 and 429 pages;
- every POST route refuses a request without a CSRF token, with a forged one, with another browser's,
  or from a browser with no session (400) and stores nothing, while the same request with the page's
  token takes effect;
- no response sets a cookie that holds the receipt (in any form a person may type it), its lookup id or
  the case reference: the citizen cookie carries the CSRF secret and nothing else; and the receipt never
  travels in a URL, a Location header or a link of any page.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote_plus

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from crypto.receipts import lookup_id, parse_receipt
from portal import create_citizen_app
from portal.models import Case
from tests.app.test_evidence_files import post_multipart, receipt_of, send_report
from tests.helpers import VALID_REPORT, csrf_token
from tests.reviewer.test_access import database_dump

LANGUAGES = ("vi", "en")
ALL_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE")
# Values that fill the URL map's placeholders: the first file of the first case, a real stylesheet.
ARGUMENTS = {"file_id": 1, "filename": "css/portal.css"}
EVIDENCE = b"scan of the receipt book, page 17"
NARRATIVE = "Cán bộ thu tiền ngoài biên lai tại bộ phận một cửa, mỗi hồ sơ 2 triệu đồng, có ảnh chụp kèm theo."
COOKIE_KEYS = {"csrf_token"}


# --- headers -----------------------------------------------------------------------------------


def csp_directives(policy: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        directives[name.lower()] = values
    return directives


def assert_security_headers(response: Any, where: str, static: bool = False) -> None:
    """The headers a browser needs to refuse framing, sniffing, inline code, leaks and caching."""
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    directives = csp_directives(csp)
    assert directives.get("default-src") == ["'none'"], (where, csp)
    assert directives.get("frame-ancestors") == ["'none'"], (where, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "*" not in csp, (where, csp)
    for name in ("script-src", "style-src", "img-src", "connect-src", "form-action"):
        assert set(directives.get(name, ["'none'"])) <= {"'self'", "'none'"}, (where, name, csp)
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("Referrer-Policy") in ("no-referrer", "same-origin"), where
    assert headers.get("Cross-Origin-Opener-Policy") == "same-origin", where
    assert headers.get("Cross-Origin-Resource-Policy") == "same-origin", where
    assert headers.get("Cross-Origin-Embedder-Policy") == "require-corp", where
    permissions = headers.get("Permissions-Policy", "")
    for feature in ("camera", "microphone", "geolocation"):
        assert f"{feature}=()" in permissions, (where, permissions)
    assert "Access-Control-Allow-Origin" not in headers, where
    if not static:
        assert "no-store" in headers.get("Cache-Control", ""), (where, headers.get("Cache-Control"))


def url_for_rule(rule: Rule, lang: str) -> str:
    unknown = rule.arguments - set(ARGUMENTS) - {"lang"}
    assert not unknown, f"{rule.rule}: this test does not know how to fill {unknown}"
    values: dict[str, Any] = {name: value for name, value in ARGUMENTS.items() if name in rule.arguments}
    if "lang" in rule.arguments:
        values["lang"] = lang
    return rule.build(values)[1]


def expected_status(rule: Rule, method: str) -> int:
    """What an anonymous request without a CSRF token must get: no POST ever gets through."""
    if method not in (rule.methods or ()):
        return 405
    if method == "OPTIONS":
        return 200
    if method == "POST":
        return 400
    return 302 if rule.endpoint == "root" else 200


def file_with_evidence(client: FlaskClient) -> str:
    return receipt_of(send_report(client, [(EVIDENCE, "biên lai.jpg.bin")], narrative=NARRATIVE))


def test_every_route_and_method_answers_with_the_security_headers(citizen_app: Flask, client: FlaskClient) -> None:
    """Crawled from the URL map, so a route added later is covered without touching this test."""
    file_with_evidence(client)
    seen: dict[str, int] = {}
    for rule in citizen_app.url_map.iter_rules():
        for lang in LANGUAGES if "lang" in rule.arguments else LANGUAGES[:1]:
            path = url_for_rule(rule, lang)
            for method in ALL_METHODS:
                response = client.open(path, method=method)
                response.close()
                where = f"{method} {path}"
                seen[where] = response.status_code
                assert response.status_code == expected_status(rule, method), (where, response.status_code)
                assert_security_headers(response, where, static=rule.endpoint == "static")
    assert seen["GET /"] == 302 and seen["GET /en/status"] == 200 and seen["POST /en/status/files/1"] == 400
    assert len(seen) >= 6 * 2 * len(ALL_METHODS)


@pytest.fixture
def tight_limits_app(env: dict[str, str]) -> Iterator[Flask]:
    app = create_citizen_app({**env, "RATELIMIT_LOOKUP": "2 per minute"})
    yield app
    app.extensions["portal_db"].dispose()


def test_error_pages_carry_the_headers_and_reflect_no_markup(tight_limits_app: Flask) -> None:
    """An error page is a page too: framed or sniffed, it would be as useful to an attacker as any other."""
    client = tight_limits_app.test_client()
    token = csrf_token(client, "/vi/status")
    pages: dict[str, tuple[Any, int]] = {
        "404 without language": (client.get("/nowhere"), 404),
        "404 in Vietnamese": (client.get("/vi/nowhere"), 404),
        "404 in English": (client.get("/en/nowhere/deeper?x=1"), 404),
        "404 unknown language": (client.get("/fr/report"), 404),
        "404 not a file number": (client.post("/vi/status/files/abc"), 404),
        "404 markup in the path": (client.get("/vi/<script>alert(1)</script>"), 404),
        "404 traversal": (client.get("/static/../../../../etc/passwd"), 404),
        "404 static": (client.get("/static/css/nothing.css"), 404),
        "405 GET a POST route": (client.get("/en/status/message"), 405),
        "405 DELETE": (client.delete("/vi/report"), 405),
        "413 body too large": (client.post("/vi/status", data={"csrf_token": token, "receipt": "x" * 3_000_000}), 413),
    }
    for _attempt in range(2):  # a wrong receipt uses up the lookup limit
        wrong = client.post("/vi/status", data={"csrf_token": token, "receipt": "ABCD-EFGH-JKMN-PQRS-TUVW"})
        assert wrong.status_code in (400, 404)
    pages["429 too many lookups"] = (client.post("/vi/status", data={"csrf_token": token, "receipt": "x"}), 429)
    for where, (response, status) in pages.items():
        assert response.status_code == status, (where, response.status_code)
        assert_security_headers(response, where, static=where in ("404 static", "404 traversal"))
        page = response.get_data(as_text=True)
        assert "<script>" not in page and "etc/passwd" not in page, where
    assert "Page not found" in pages["404 in English"][0].get_data(as_text=True)
    assert "Không tìm thấy trang" in pages["404 in Vietnamese"][0].get_data(as_text=True)


# --- CSRF --------------------------------------------------------------------------------------


@dataclass
class Post:
    """One POST route as a page of the app would send it, and how to tell that it took effect."""

    path: str
    data: dict[str, Any]
    files: list[tuple[bytes, str]] | None  # multipart when not None
    took_effect: Callable[[Any, bool], bool]  # (response, database changed)

    def send(self, client: FlaskClient, **extra: Any) -> Any:
        data = {**self.data, **extra}
        if self.files is None:
            return client.post(self.path, data=data)
        return post_multipart(client, self.path, data, self.files)


def test_every_post_route_refuses_a_request_without_a_valid_csrf_token(citizen_app: Flask, client: FlaskClient) -> None:
    """What a cross-site page can send (no token, a made-up one, its own session's, or none of the victim's
    cookies, which SameSite=Lax withholds) never files, sends, shows or downloads anything."""
    receipt = file_with_evidence(client)
    posts: dict[str, Post] = {
        "citizen.report": Post(
            "/vi/report",
            {**VALID_REPORT, "narrative": NARRATIVE},
            [(b"another scan", "scan.bin")],
            lambda response, changed: response.status_code == 201 and changed,
        ),
        "citizen.status": Post(
            "/vi/status",
            {"receipt": receipt},
            None,
            lambda response, changed: response.status_code == 200 and NARRATIVE in response.get_data(as_text=True),
        ),
        "citizen.message": Post(
            "/vi/status/message",
            {"receipt": receipt, "text": "Tôi gửi thêm bản chụp sổ biên lai."},
            [(b"page 18", "trang 18.bin")],
            lambda response, changed: response.status_code == 200 and changed,
        ),
        "citizen.download": Post(
            "/vi/status/files/1",
            {"receipt": receipt},
            None,
            lambda response, changed: response.status_code == 200 and response.data == EVIDENCE,
        ),
    }
    post_endpoints = {rule.endpoint for rule in citizen_app.url_map.iter_rules() if "POST" in (rule.methods or ())}
    assert set(posts) == post_endpoints, "a POST route is not covered here"

    token = csrf_token(client, "/vi/report")
    another_browser = citizen_app.test_client()
    someone_elses = csrf_token(another_browser, "/vi/report")
    for endpoint, post in posts.items():
        before = database_dump(citizen_app)
        no_session = citizen_app.test_client()
        refusals = {
            "no token": post.send(client),
            "empty token": post.send(client, csrf_token=""),
            "forged token": post.send(client, csrf_token="forged-" + token[7:]),
            "another browser's token": post.send(client, csrf_token=someone_elses),
            "no session": post.send(no_session, csrf_token=token),
        }
        for how, refused in refusals.items():
            assert refused.status_code == 400, (endpoint, how, refused.status_code)
            assert not post.took_effect(refused, False), (endpoint, how)
        in_english = Post(post.path.replace("/vi/", "/en/", 1), post.data, post.files, post.took_effect)
        assert "expired" in in_english.send(client).get_data(as_text=True), endpoint  # and told why
        assert database_dump(citizen_app) == before, f"{endpoint} stored something without a valid token"
        # The control: the very same request with the page's token takes effect.
        accepted = post.send(client, csrf_token=token)
        assert post.took_effect(accepted, database_dump(citizen_app) != before), (endpoint, accepted.status_code)


def test_guesses_sent_without_a_token_are_held_to_the_lookup_limit(tight_limits_app: Flask) -> None:
    """A guesser who never sends a CSRF token must run out of guesses like anyone else: the lookup limit is
    what makes guessing receipts run out, so a right receipt past it must not be answered with the report."""
    receipt = file_with_evidence(tight_limits_app.test_client())
    guesser = tight_limits_app.test_client()
    for _guess in range(2):  # the limit is 2 per minute here
        wrong = guesser.post("/vi/status/message", data={"receipt": "ABCD-EFGH-JKMN-PQRS-TUVW", "text": "x"})
        assert wrong.status_code == 400
    answer = guesser.post("/vi/status/message", data={"receipt": receipt, "text": "x"})
    assert NARRATIVE not in answer.get_data(as_text=True)
    assert answer.status_code == 429


# --- cookies and URLs --------------------------------------------------------------------------


@dataclass
class Exchange:
    method: str
    url: str
    status: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


class Recorder:
    """WSGI middleware: every request line, response header and HTML page the app sends, as the
    network (and anyone holding the browser afterwards) sees it; the test client cannot hide any."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.exchanges: list[Exchange] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        exchange = Exchange(environ["REQUEST_METHOD"], f"{environ['PATH_INFO']}?{environ.get('QUERY_STRING', '')}")
        self.exchanges.append(exchange)

        def recording(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            exchange.status, exchange.headers = status, list(headers)
            return start_response(status, headers, exc_info)

        body = self.app(environ, recording)
        try:
            for chunk in body:
                if any(value.startswith("text/html") for value in exchange.header("Content-Type")):
                    exchange.body += chunk
                yield chunk
        finally:
            getattr(body, "close", lambda: None)()


class Links(HTMLParser):
    """Every address a page links, posts or loads."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value or "" for name, value in attrs if name in ("href", "src", "action", "formaction")]


def session_payload(cookie_value: str) -> str:
    """What Flask's signed (not encrypted) session cookie holds: base64 JSON, zlib-compressed when it
    starts with a dot. Anyone who gets hold of the browser reads it without any key."""
    payload = cookie_value.rsplit(".", 2)[0]
    compressed = payload.startswith(".")
    payload = payload.lstrip(".")
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return (zlib.decompress(data) if compressed else data).decode("utf-8")


def secrets_of(receipt: str, app: Flask) -> set[str]:
    """The receipt in every form a person may type it, its lookup id as stored, and the case reference."""
    canonical = parse_receipt(receipt)
    groups = [canonical[i : i + 4] for i in range(0, 20, 4)]
    typed = {receipt, canonical, "-".join(groups), " ".join(groups), "".join(groups)}
    identifier = lookup_id(app.config["RECEIPT_PEPPER"], canonical)
    encoded = {
        identifier.hex(),
        base64.b64encode(identifier).decode().rstrip("="),
        base64.urlsafe_b64encode(identifier).decode().rstrip("="),
    }
    with app.extensions["portal_db"].session() as session:
        references = {case.reference for case in session.query(Case)}
    return {form.lower() for form in typed | encoded | references}


def leaked(text: str, secrets: set[str]) -> set[str]:
    lowered = text.lower()
    return {secret for secret in secrets if secret in lowered}


def test_no_cookie_url_or_redirect_ever_holds_the_receipt(citizen_app: Flask, client: FlaskClient) -> None:
    """A receipt in a cookie or an address outlives the visit (browser storage, history, logs): whoever
    later holds the device could read the report. It may only ever travel in a form body."""
    recorder = Recorder(citizen_app.wsgi_app)
    citizen_app.wsgi_app = recorder  # type: ignore[method-assign]

    client.get("/")
    client.get("/vi/")
    receipt = file_with_evidence(client)
    canonical = parse_receipt(receipt)
    token = csrf_token(client, "/vi/status")
    status_forms = (receipt, canonical.lower(), " ".join(receipt.lower().split("-")))
    for lang, typed in zip(("vi", "en", "vi"), status_forms, strict=True):
        shown = client.post(f"/{lang}/status", data={"csrf_token": token, "receipt": typed})
        assert shown.status_code == 200 and NARRATIVE in shown.get_data(as_text=True)
    message = {"csrf_token": token, "receipt": receipt, "text": "Bổ sung: sổ biên lai trang 18."}
    assert post_multipart(client, "/en/status/message", message, [(b"page 18", "trang 18.bin")]).status_code == 200
    for file_id in (1, 2):
        downloaded = client.post(f"/vi/status/files/{file_id}", data={"csrf_token": token, "receipt": receipt})
        assert downloaded.status_code == 200 and downloaded.data in (EVIDENCE, b"page 18")
    mistyped = receipt[:-1] + ("A" if receipt[-1] != "A" else "B")
    assert client.post("/vi/status", data={"csrf_token": token, "receipt": mistyped}).status_code == 400
    # A form that expired: the message comes back to the page, filled in, and still nothing is remembered.
    assert client.post("/vi/status/message", data={"receipt": receipt, "text": "hết hạn"}).status_code == 400
    client.get("/en/status")
    client.get("/vi/status/files/1")

    secrets = secrets_of(receipt, citizen_app)
    cookies = 0
    for exchange in recorder.exchanges:
        where = f"{exchange.method} {exchange.url} -> {exchange.status}"
        assert not leaked(unquote_plus(exchange.url), secrets), where
        for location in exchange.header("Location"):
            assert not leaked(unquote_plus(location), secrets), (where, location)
        for set_cookie in exchange.header("Set-Cookie"):
            cookies += 1
            name, _, rest = set_cookie.partition("=")
            value = rest.split(";", 1)[0]
            assert name == citizen_app.config["SESSION_COOKIE_NAME"], (where, set_cookie)
            assert "HttpOnly" in set_cookie and "SameSite=" in set_cookie, (where, set_cookie)
            assert not leaked(set_cookie, secrets), (where, set_cookie)
            if value:
                payload = session_payload(value)
                assert not leaked(payload, secrets), (where, payload)
                assert set(json.loads(payload)) <= COOKIE_KEYS, (where, payload)
        links = Links()
        links.feed(exchange.body.decode("utf-8", "replace"))
        for url in links.urls:
            assert not leaked(unquote_plus(url), secrets), (where, url)
    assert cookies, "no Set-Cookie was seen: this test checked nothing"
    assert any(leaked(exchange.body.decode(), secrets) for exchange in recorder.exchanges), "receipt never shown"
    assert not leaked(str(client.get_cookie(citizen_app.config["SESSION_COOKIE_NAME"])), secrets)


def test_the_cookie_decoder_would_see_a_receipt_put_in_the_session(citizen_app: Flask) -> None:
    """The control for the decoder above: a receipt stored in Flask's session, long enough to be
    compressed or not, is found in the cookie it produces."""
    receipt = "ABCD-EFGH-JKMN-PQRS-TUVW"
    serializer = citizen_app.session_interface.get_signing_serializer(citizen_app)  # type: ignore[attr-defined]
    assert serializer is not None
    for padding in ("", "x" * 400):
        value = serializer.dumps({"csrf_token": "t", "last": receipt, "padding": padding})
        assert value.startswith(".") == bool(padding)
        assert receipt in session_payload(value)
