"""The nginx recipe (config/deploy/nginx/), checked by nginx itself and by what a reporter, an inspector and an
attacker see through it: nginx runs the shipped server blocks on a Debian-like main config, in front of both apps
under gunicorn from their shipped configs on unix sockets, inside the systemd units' seccomp filters, on SQLite
and on PostgreSQL. Requests to the citizen server come as Tor sends them, opened by a PROXY line per circuit.

What must hold: pages load with the apps' own headers and no nginx version; static files come from nginx with the
same headers; /healthz is not served through the onions; the largest body the app accepts reaches it as it
arrives, and a decrypted evidence file leaves as it is read, neither ever in nginx's temporary files; bodies past
the app's ceiling get 413 from nginx; one Tor circuit cannot flood the forms; no access log line, and no circuit,
is written anywhere.
"""

from __future__ import annotations

import http.client
import io
import itertools
import os
import re
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from crypto.keys import generate_keypair, public_key_b64
from portal import create_reviewer_app
from portal.accounts import Role
from portal.security_headers import HEADERS
from portal.settings import MIB
from portal.uploads import Limits
from tests.deploy import seccomp_sandbox
from tests.deploy.stack import Answer, Nginx, Visitor, get_over_socket, gunicorn, nginx, nginx_command, nginx_prefix
from tests.deploy.stack import tool
from tests.helpers import CSRF_PATTERN, RECEIPT_PATTERN, VALID_REPORT
from tests.reviewer_helpers import Person, clear_of_a_step_change, make_person, record_intake_key
from tests.conftest import migrated_database
from tests.servers import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        tool("nginx") is None,
        reason="nginx is not installed (apt-get install nginx needs root; scripts/test.py does it): skipped",
    ),
    pytest.mark.skipif(not seccomp_sandbox.available(), reason=seccomp_sandbox.UNAVAILABLE),
]

NGINX_PAGE = b"<center>nginx</center>"
EVIDENCE_BYTES = 24 * MIB
STREAM_BLOCK = MIB
DOWNLOAD_ACTION = re.compile(r'action="(/vi/(?:status|cases/\d+)/files/\d+)"')
circuits = itertools.count(1)


@dataclass
class Deployment:
    site: Nginx
    sockets: dict[str, Path]
    database_url: str
    lead: Person
    # The app's ceiling on an upload route (2 × submission limit + 1 MB): it reads a body up to one byte less
    # (werkzeug refuses one that reaches its limit); nginx must let all of those through.
    upload_ceiling: int

    def citizen(self) -> Visitor:
        """A reporter's Tor Browser on a circuit of its own."""
        return Visitor(self.site.citizen_port, next(circuits))

    def reviewer(self) -> Visitor:
        return Visitor(self.site.reviewer_port)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp("deploy")
    keys = generate_keypair()
    with migrated_database(request, directory) as database_url:
        env = {
            "PORTAL_ENV": "testing",
            "DATABASE_URL": database_url,
            "INTAKE_PUBLIC_KEY": public_key_b64(keys.public),
            "CITIZEN_SECRET_KEY": "citizen-secret-key-for-deploy-tests-0123456789",
            "REVIEWER_SECRET_KEY": "reviewer-secret-key-for-deploy-tests-0123456789",
            "AUDIT_KEY": "audit-key-for-deploy-tests-0123456789abcdefghij",
            "RECEIPT_PEPPER": "receipt-pepper-for-deploy-tests-0123456789abcd",
            "KDF_COST": "testing",
            "RATELIMIT_ENABLED": "false",  # so every 429 seen here is nginx's per-circuit limit
        }
        app = create_reviewer_app(env)
        record_intake_key(app, keys)
        lead = make_person(app, keys, "lead-deploy", Role.LEAD)
        ceiling = Limits.of(app).request_bytes
        app.extensions["portal_db"].dispose()
        with (
            gunicorn("citizen", env, directory / "run") as citizen,
            gunicorn("reviewer", env, directory / "run") as reviewer,
        ):
            sockets = {"citizen": citizen.socket, "reviewer": reviewer.socket}
            with nginx(nginx_prefix(directory / "nginx", sockets)) as site:
                yield Deployment(site, sockets, database_url, lead, ceiling)


def test_nginx_accepts_the_shipped_configuration(tmp_path: Path) -> None:
    site = nginx_prefix(tmp_path, {"citizen": tmp_path / "citizen.sock", "reviewer": tmp_path / "reviewer.sock"})
    checked = subprocess.run(nginx_command(site.prefix, "-t"), capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr
    assert "[warn]" not in checked.stderr, checked.stderr


def assert_nginx_shows_no_version(answer: Answer) -> None:
    assert answer.headers["Server"] == "nginx"
    assert b"nginx/" not in answer.body


def test_pages_load_through_both_onions_with_the_apps_headers_and_no_version(deployment: Deployment) -> None:
    for visitor, path, words in (
        (deployment.citizen(), "/vi/", "Gửi phản ánh"),
        (deployment.reviewer(), "/vi/login", "Đăng nhập"),
    ):
        answer = visitor.get(path)
        assert answer.status == 200, answer.text
        assert words in answer.text
        assert_nginx_shows_no_version(answer)
        for name, value in HEADERS.items():
            assert answer.headers.get_all(name) == [value], f"{path}: {name}"  # passed on once, unchanged
        assert answer.headers["Cache-Control"] == "no-store, max-age=0"
        assert "Content-Encoding" not in answer.headers  # no compression of pages holding secrets (BREACH)


def test_static_files_come_from_nginx_with_the_same_security_headers(deployment: Deployment) -> None:
    for visitor in (deployment.citizen(), deployment.reviewer()):
        for name in ("portal.css", "reviewer.css"):
            answer = visitor.get(f"/static/css/{name}")
            assert answer.status == 200
            on_disk = ROOT / "static" / "css" / name
            assert answer.body == on_disk.read_bytes()
            stat = on_disk.stat()
            assert answer.headers["ETag"] == f'"{int(stat.st_mtime):x}-{stat.st_size:x}"'  # nginx's, from the file
            for header, value in HEADERS.items():
                assert answer.headers.get_all(header) == [value], f"{name}: {header}"
        assert visitor.get("/static/css/nothing.css").status == 404
        assert visitor.fetch("POST", "/static/css/portal.css", b"").status == 403


def test_healthz_is_served_to_local_monitoring_but_not_through_the_onions(deployment: Deployment) -> None:
    for visitor in (deployment.citizen(), deployment.reviewer()):
        answer = visitor.get("/healthz")
        assert answer.status == 404
        assert b"ok" not in answer.body
    for sock in deployment.sockets.values():
        assert get_over_socket(sock, "/healthz") == (200, b"ok")


# --- request bodies ---------------------------------------------------------------------------------------------


def multipart_report(
    csrf: str, file_name: str, total_bytes: int, on_half: Callable[[], None]
) -> tuple[str, Iterator[bytes]]:
    """(content type, body blocks) of the report form with one file, `total_bytes` long in all; `on_half` is
    called when half the file has been handed to the connection."""
    boundary = "deploy-test-boundary-7f3a"
    fields = {**VALID_REPORT, "csrf_token": csrf}
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, values in fields.items()
        for value in (values if isinstance(values, list) else [values])
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{file_name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    file_bytes = total_bytes - len(head) - len(tail)

    def blocks() -> Iterator[bytes]:
        yield head
        block = b"\x5a" * STREAM_BLOCK
        sent = 0
        while sent < file_bytes:
            if sent <= file_bytes // 2 < sent + STREAM_BLOCK:
                on_half()
            piece = block[: min(STREAM_BLOCK, file_bytes - sent)]
            sent += len(piece)
            yield piece
        yield tail

    return f"multipart/form-data; boundary={boundary}", blocks()


def csrf_of(answer: Answer) -> str:
    match = CSRF_PATTERN.search(answer.text)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.mark.parametrize(
    ("onion", "path", "framing"),
    [
        ("citizen", "/vi/report", "Content-Length"),
        ("citizen", "/vi/report", "chunked"),
        ("citizen", "/en/status/message", "Content-Length"),
        ("reviewer", "/vi/cases/1/message", "Content-Length"),
    ],
)
def test_the_largest_upload_the_app_takes_is_streamed_to_it_never_written_by_nginx(
    deployment: Deployment, onion: str, path: str, framing: str
) -> None:
    visitor = deployment.citizen() if onion == "citizen" else deployment.reviewer()
    form_page = "/vi/report" if onion == "citizen" else "/vi/login"
    csrf = csrf_of(visitor.get(form_page))
    seen_half_way: list[list[str]] = []

    def look_at_nginx_temp_files() -> None:
        time.sleep(0.5)  # let nginx take in what was sent so far
        seen_half_way.append(deployment.site.temp_files())

    largest = deployment.upload_ceiling - 1
    content_type, blocks = multipart_report(csrf, "video quá lớn.mp4", largest, look_at_nginx_temp_files)
    headers = {"Content-Type": content_type}
    if framing == "Content-Length":
        headers["Content-Length"] = str(largest)
    started = time.monotonic()
    answer = visitor.fetch("POST", path, blocks, headers=headers, chunked=framing == "chunked")
    elapsed = time.monotonic() - started
    assert NGINX_PAGE not in answer.body, answer.text  # the app answered, having read it all
    if path == "/vi/report":
        # The form comes back naming the file, which is over the 50 MB a file may have.
        assert answer.status == 400, answer.text[:500]
        assert "“video quá lớn.mp4” lớn hơn 50 MB" in answer.text
    assert seen_half_way == [[]]
    assert deployment.site.temp_files() == []
    print(f"{largest / MIB:.0f} MiB ({framing}) to {path} through nginx and gunicorn in {elapsed:.1f} s")


def send_headers_only(visitor: Visitor, path: str, length: int) -> Answer:
    """A request announcing a body of `length` bytes: nginx answers a body over its limit before it is sent."""
    response = visitor.open("POST", path, None, {"Content-Length": str(length), "Content-Type": "text/plain"})
    with response:
        return Answer(response.status, response.headers, response.read())


def test_bodies_past_the_apps_ceiling_get_413_from_nginx_and_bodies_within_reach_the_app(
    deployment: Deployment,
) -> None:
    ceiling = deployment.upload_ceiling
    for visitor, upload_path, form_path in (
        (deployment.citizen(), "/vi/report", "/vi/status"),
        (deployment.citizen(), "/en/status/message", "/en/status"),
        (deployment.reviewer(), "/vi/cases/1/message", "/vi/login"),
    ):
        for path, limit in ((upload_path, ceiling), (form_path, 2 * MIB)):
            refused = send_headers_only(visitor, path, limit + 1)
            assert refused.status == 413, path
            assert NGINX_PAGE in refused.body
            assert_nginx_shows_no_version(refused)
        # The largest body a form without files may have reaches the app, which answers it (not nginx).
        within = visitor.fetch("POST", form_path, b"x" * 2 * MIB, headers={"Content-Type": "text/plain"})
        assert NGINX_PAGE not in within.body, form_path


# --- evidence files ---------------------------------------------------------------------------------------------


def read_slowly(response: http.client.HTTPResponse, temp_files: Callable[[], list[str]]) -> tuple[bytes, list[str]]:
    """The body of a download read as a slow Tor client does, and nginx's temporary files while it lagged."""
    first = response.read(MIB)
    time.sleep(1.0)  # nginx would spool the rest of the answer to proxy_temp meanwhile, if it were allowed to
    during = temp_files()
    return first + response.read(), during


def test_evidence_goes_in_and_comes_back_out_through_both_onions_without_touching_nginx_disk(
    deployment: Deployment,
) -> None:
    evidence = os.urandom(EVIDENCE_BYTES)
    reporter = deployment.citizen()
    fields = MultiDict({**VALID_REPORT, "csrf_token": csrf_of(reporter.get("/vi/report"))})
    fields.add("files", FileStorage(io.BytesIO(evidence), filename="bằng chứng.bin"))
    boundary, body = encode_multipart(fields)
    filed = reporter.fetch(
        "POST", "/vi/report", body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert filed.status == 201, filed.text[:500]
    receipt_match = RECEIPT_PATTERN.search(filed.text)
    assert receipt_match
    receipt = receipt_match.group(1)

    # The reporter downloads their own file: decrypted by the citizen app, streamed through nginx.
    status_page = reporter.post_form(
        "/vi/status", {"csrf_token": csrf_of(reporter.get("/vi/status")), "receipt": receipt}
    )
    assert status_page.status == 200, status_page.text[:500]
    (action,) = DOWNLOAD_ACTION.findall(status_page.text)
    form = {"csrf_token": csrf_of(status_page), "receipt": receipt}
    response = reporter.open("POST", action, _urlencoded(form), {"Content-Type": "application/x-www-form-urlencoded"})
    with response:
        assert response.status == 200
        content, during = read_slowly(response, deployment.site.temp_files)
    assert content == evidence
    assert during == []

    # A lead logs in through the reviewer onion and downloads it: decrypted by the reviewer app.
    inspector = deployment.reviewer()
    clear_of_a_step_change()
    lead = deployment.lead
    login = {"csrf_token": csrf_of(inspector.get("/vi/login")), "username": lead.username, "password": lead.password}
    logged_in = inspector.post_form("/vi/login", {**login, "code": lead.code()})
    assert logged_in.status in (302, 303), logged_in.text[:500]
    case_page = inspector.get(f"/vi/cases/{_newest_case(deployment.database_url)}")
    assert case_page.status == 200, case_page.text[:500]
    (action,) = DOWNLOAD_ACTION.findall(case_page.text)
    response = inspector.open(
        "POST",
        action,
        _urlencoded({"csrf_token": csrf_of(case_page)}),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    with response:
        assert response.status == 200
        content, during = read_slowly(response, deployment.site.temp_files)
    assert content == evidence
    assert during == []
    assert deployment.site.temp_files() == []


def _urlencoded(fields: dict[str, str]) -> bytes:
    return urllib.parse.urlencode(fields).encode()


def _newest_case(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT max(id) FROM cases")).scalar_one())
    finally:
        engine.dispose()


# --- floods and logs --------------------------------------------------------------------------------------------


def test_one_tor_circuit_cannot_flood_the_forms_and_other_circuits_are_still_served(deployment: Deployment) -> None:
    flooding = deployment.citizen()
    answers = [flooding.post_form("/vi/status", {"receipt": "guess"}).status for _ in range(15)]
    assert answers[0] == 400  # the app's answer to a form without its token
    assert 429 in answers
    refused = flooding.post_form("/vi/status", {"receipt": "guess"})
    assert refused.status == 429 and NGINX_PAGE in refused.body
    assert flooding.get("/vi/status").status == 200  # pages are limited apart from forms, and more loosely
    assert deployment.citizen().post_form("/vi/status", {"receipt": "guess"}).status == 400


def test_nothing_about_a_visitor_is_logged(deployment: Deployment) -> None:
    # What writes a log line at nginx's default levels: a refused body, a flood, a request for a missing file.
    visitor = deployment.citizen()
    send_headers_only(visitor, "/vi/report", deployment.upload_ceiling + 1)
    for _ in range(15):
        visitor.post_form("/vi/status", {"receipt": "guess"})
    visitor.get("/static/css/missing.css")
    logs = {path.name: path.read_bytes() for path in deployment.site.logs.iterdir()}
    assert logs["access.log"] == b""  # opened by the main config, written by no portal server
    everything = b"".join(logs.values())
    assert b"fc00:dead:beef" not in everything  # no circuit
    for path in (b"/vi/report", b"/vi/status", b"missing.css"):
        assert path not in everything
