"""Attacks on the reviewer login and on the secrets behind it, as the attacker sees them.

tests/reviewer/test_login.py already proves, and this file does not repeat: five failures lock an
account until an admin unlocks it; a locked account and an unknown name cost the same work and get
the same answer; a code is good once (same browser, after logout); a login issues a new cookie
(session fixation); a burst of logins with made-up names is rate limited. What this adds:

- password spraying (one password over many real accounts from one client) is cut off by the rate
  limit before it gets far, locks no account, and every try it made is in the audit trail;
- a code used by a successful login is worth nothing to an attacker who saw it and knows the
  password, from another browser and address, nor is the code before it; two browsers racing with
  one code get one login between them;
- lockout is per account: locking one leaves the others open, even in the attacker's browser, and
  changing address between guesses does not escape it;
- the password page, a password oracle for whoever steals a session cookie, is rate limited;
- no page an admin can reach shows any account's password hash, TOTP secret (plain or grouped as at
  enrolment), encrypted TOTP secret or wrapped keys; the setup page shows a secret only to its own
  account, during setup.
"""

from __future__ import annotations

import base64
import html
import re
import threading
from collections.abc import Iterable

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crypto.keys import KeyPair
from portal import totp
from portal.accounts import Role, utcnow
from portal.models import Inspector, IntakeKey, ReviewerSession
from tests.helpers import file_report
from tests.reviewer.test_login import audit_events, database, inspector, is_logged_in, sessions
from tests.reviewer_helpers import (
    PASSWORD,
    Person,
    clear_of_a_step_change,
    csrf,
    log_in,
    make_person,
    with_setup_key,
)

ATTACKER = "203.0.113.66"
OWNER = "10.0.0.8"
LOGIN_FAILED = "The user name, password or code is not right."
SPRAYED = "Hanoi@2026 mat khau"
NEW_PASSWORD = "my own new passphrase 7"


# --- helpers -----------------------------------------------------------------------------------------


def browser(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def guessing(person: Person, password: str = "guessing the password") -> Person:
    return Person(person.id, person.username, password, person.totp_secret)


# --- spraying ----------------------------------------------------------------------------------------


def test_spraying_one_password_over_many_accounts_is_cut_off_and_every_try_is_in_the_trail(
    reviewer_app: Flask, intake_keys: KeyPair, staff: dict[str, Person]
) -> None:
    people = [make_person(reviewer_app, intake_keys, f"thanh-tra-{number:02d}", Role.INSPECTOR) for number in range(12)]
    attacker = browser(reviewer_app, ATTACKER)
    statuses = [log_in(attacker, guessing(person, SPRAYED), code="000000").status_code for person in people]
    assert statuses == [401] * 10 + [429] * 2
    # Every try that reached an account is in the trail, under that account; the ones past the limit never ran.
    failures = audit_events(reviewer_app, "login_failed")
    assert [(event.actor, event.actor_id) for event in failures] == [
        (person.username, person.id) for person in people[:10]
    ]
    assert all("wrong password" in event.detail for event in failures)
    # One failure each: spraying locks nobody out (that is the point of spraying, and why the limit matters).
    for tried, person in enumerate(people):
        row = inspector(reviewer_app, person)
        assert (row.failed_logins, row.locked_until) == (1 if tried < 10 else 0, None)
    # Cut off means cut off: not even the right password gets through from the spraying client.
    assert log_in(attacker, staff["lead"]).status_code == 429
    assert sessions(reviewer_app) == []
    # The accounts' owners still log in, from their own address.
    assert log_in(browser(reviewer_app, OWNER), people[0]).status_code == 302


# --- one-time codes ----------------------------------------------------------------------------------


def test_a_code_seen_over_the_shoulder_of_a_successful_login_is_worth_nothing(
    reviewer_app: Flask, staff: dict[str, Person]
) -> None:
    victim = staff["lead"]
    clear_of_a_step_change()
    code = victim.code()
    own = browser(reviewer_app, OWNER)
    assert log_in(own, victim, code=code).status_code == 302

    # The attacker knows the password and saw the code: another browser, another address, right away.
    attacker = browser(reviewer_app, ATTACKER)
    replay = log_in(attacker, victim, code=code, lang="en")
    assert replay.status_code == 401 and LOGIN_FAILED in replay.get_data(as_text=True)
    # The code before it is still inside the clock-drift window, but older than the one used: refused too.
    assert log_in(attacker, victim, code=victim.code(-1)).status_code == 401
    assert not is_logged_in(attacker)
    assert is_logged_in(own)
    assert [row.inspector_id for row in sessions(reviewer_app)] == [victim.id]
    failures = audit_events(reviewer_app, "login_failed")
    assert [(event.actor, "wrong or used code" in event.detail) for event in failures] == [(victim.username, True)] * 2


def test_two_browsers_racing_with_one_code_get_one_login_between_them(
    reviewer_app: Flask, staff: dict[str, Person]
) -> None:
    """The code is claimed by one conditional UPDATE: whoever comes second, even by a hair, is refused."""
    person = staff["inspector"]
    clear_of_a_step_change()
    code = person.code()
    browsers = [browser(reviewer_app, OWNER), browser(reviewer_app, ATTACKER)]
    forms = [
        {"csrf_token": csrf(client, "/vi/login"), "username": person.username, "password": PASSWORD, "code": code}
        for client in browsers
    ]
    start = threading.Barrier(len(browsers))
    statuses: list[int | None] = [None] * len(browsers)

    def attempt(index: int) -> None:
        start.wait()
        statuses[index] = browsers[index].post("/vi/login", data=forms[index]).status_code

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(len(browsers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(status or 0 for status in statuses) == [302, 401]
    assert [row.inspector_id for row in sessions(reviewer_app)] == [person.id]
    [failure] = audit_events(reviewer_app, "login_failed")
    assert failure.actor == person.username and "wrong or used code" in failure.detail


# --- lockout -----------------------------------------------------------------------------------------


def test_locking_one_account_leaves_the_others_open_even_in_the_attackers_browser(
    reviewer_app: Flask, staff: dict[str, Person]
) -> None:
    target, other = staff["inspector"], staff["lead"]
    attacker = browser(reviewer_app, ATTACKER)
    for _attempt in range(5):
        assert log_in(attacker, guessing(target)).status_code == 401
    locked = inspector(reviewer_app, target)
    assert locked.locked_until is not None and locked.locked_until > utcnow()

    untouched = inspector(reviewer_app, other)
    assert (untouched.failed_logins, untouched.locked_until) == (0, None)
    assert log_in(attacker, other).status_code == 302  # same browser, same address: the other account opens
    assert is_logged_in(attacker)
    # The locked account stays locked, for its owner too.
    assert log_in(browser(reviewer_app, OWNER), target).status_code == 401
    assert "locked" in audit_events(reviewer_app, "login_failed")[-1].detail


def test_changing_address_between_guesses_does_not_escape_the_lockout(
    reviewer_app: Flask, staff: dict[str, Person]
) -> None:
    """The rate limit counts per address; the lockout counts per account, wherever the guesses come from."""
    target = staff["lead"]
    for number in range(5):
        assert log_in(browser(reviewer_app, f"192.0.2.{number + 1}"), guessing(target)).status_code == 401
    assert inspector(reviewer_app, target).locked_until is not None
    assert log_in(browser(reviewer_app, "192.0.2.99"), target).status_code == 401
    reasons = [event.detail for event in audit_events(reviewer_app, "login_failed")]
    assert len(reasons) == 6 and all("wrong password" in reason for reason in reasons[:5]) and "locked" in reasons[5]


# --- the password page ---------------------------------------------------------------------------------


def change_password(client: FlaskClient, token: str, current: str) -> int:
    data = {"csrf_token": token, "current_password": current, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    return client.post("/en/account/password", data=data).status_code


def test_a_stolen_session_cannot_guess_the_password_on_the_password_page(
    reviewer_app: Flask, staff: dict[str, Person]
) -> None:
    """The page checks the current password: with a stolen cookie it would be an oracle without the limit."""
    person = staff["inspector"]
    thief = browser(reviewer_app, ATTACKER)
    assert log_in(thief, person).status_code == 302  # stands for a cookie taken from the person's browser
    token = csrf(thief, "/en/account/password")
    before = inspector(reviewer_app, person).password_hash
    statuses = [change_password(thief, token, f"guess number {number}") for number in range(11)]
    assert statuses == [400] * 10 + [429]
    assert change_password(thief, token, PASSWORD) == 429  # limited: even the right one
    assert inspector(reviewer_app, person).password_hash == before


def test_guesses_on_the_password_page_are_in_the_audit_trail(reviewer_app: Flask, staff: dict[str, Person]) -> None:
    person = staff["inspector"]
    thief = browser(reviewer_app, ATTACKER)
    assert log_in(thief, person).status_code == 302
    token = csrf(thief, "/en/account/password")
    written = len(audit_events(reviewer_app))
    for number in range(5):
        assert change_password(thief, token, f"guess number {number}") == 400
    assert len(audit_events(reviewer_app)) - written >= 5


# --- what an admin can read ------------------------------------------------------------------------------


def spellings(secret: str | bytes) -> set[str]:
    """The ways a secret could show on a page: as it is, grouped as at enrolment, base64 and hex."""
    if isinstance(secret, str):
        found = {secret, secret.lower(), totp.grouped(secret)}
        if secret.startswith("$argon2"):
            found |= {part for part in secret.split("$") if len(part) >= 16}  # the salt and the hash themselves
        return found
    encoded = {base64.b64encode(secret).decode(), base64.urlsafe_b64encode(secret).decode()}
    return encoded | {text.rstrip("=") for text in encoded} | {secret.hex(), secret.hex().upper()}


def secrets_on_record(app: Flask, people: Iterable[Person], intake_keys: KeyPair) -> dict[str, set[str]]:
    """Every secret the database holds for an account, a session or the intake key, by where it is from."""
    found: dict[str, set[str]] = {}
    with database(app).session() as session:
        for row in session.scalars(select(Inspector)):
            found[f"{row.username} password hash"] = spellings(row.password_hash)
            found[f"{row.username} encrypted TOTP secret"] = spellings(row.encrypted_totp_secret)
            secret = totp.decrypt_secret(row.encrypted_totp_secret, app.config["SECRET_KEY"])
            found[f"{row.username} TOTP secret"] = spellings(secret)
            if row.wrapped_keyring is not None:
                found[f"{row.username} wrapped keyring"] = spellings(row.wrapped_keyring)
        for login in session.scalars(select(ReviewerSession)):
            found[f"session of {login.inspector_id} (id)"] = spellings(login.id)
            found[f"session of {login.inspector_id} (keys)"] = spellings(login.wrapped_keyring)
        for key in session.scalars(select(IntakeKey)):
            found[f"intake key {key.id} (recovery copy)"] = spellings(key.recovery_wrapped_private_key)
    found["intake private key"] = spellings(intake_keys.private)
    for person in people:
        found[f"{person.username} password"] = {person.password}
    return found


LINK = re.compile(r'(?:href|src|action)="(/[^"#]*)')


def crawl(client: FlaskClient, start: Iterable[str], limit: int = 400) -> dict[str, bytes]:
    """Every page reachable by GET from `start`, following links, forms and redirects inside the app."""
    seen: dict[str, bytes] = {}
    queue = list(start)
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen or url.startswith("//"):
            continue
        response = client.get(url)
        body = response.get_data()
        response.close()  # static files are streamed from an open file
        seen[url] = body + "\n".join(f"{name}: {value}" for name, value in response.headers.items()).encode()
        if response.status_code in (301, 302, 303) and response.headers["Location"].startswith("/"):
            queue.append(response.headers["Location"])
        if response.mimetype == "text/html":
            queue += [html.unescape(link) for link in LINK.findall(body.decode(errors="replace"))]
    return seen


def every_get_route(app: Flask, case_ids: Iterable[int], people: Iterable[Inspector]) -> list[str]:
    """Each GET route of the app in both languages, the audit trail under every filter its form offers."""
    urls = ["/"]
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        for lang in ("vi", "en"):
            if "case_id" in rule.arguments:
                urls += [f"/{lang}/cases/{case_id}" for case_id in case_ids]
            else:
                urls.append(rule.rule.replace("<any(vi, en):lang>", lang))
    actions = {event.action for event in audit_events(app)}
    urls += [f"/en/admin/audit?action={action}" for action in sorted(actions)]
    urls += [f"/en/admin/audit?actor={person.username}" for person in people]
    return urls


def test_no_page_an_admin_can_reach_shows_a_password_hash_a_totp_secret_or_wrapped_keys(
    reviewer_app: Flask, client: FlaskClient, intake_keys: KeyPair, staff: dict[str, Person]
) -> None:
    file_report(client)
    newcomer = make_person(reviewer_app, intake_keys, "moi-vao", Role.INSPECTOR, enrolled=False)
    locked = make_person(reviewer_app, intake_keys, "bi-khoa", Role.INSPECTOR)
    for _attempt in range(5):
        log_in(browser(reviewer_app, OWNER), guessing(locked))
    colleague = browser(reviewer_app, OWNER)
    assert log_in(colleague, staff["lead"]).status_code == 302  # a live session, with its keys, in the database
    admin = reviewer_app.test_client()
    assert log_in(admin, staff["admin"]).status_code == 302
    # An account created through the page: its one-time password is shown once, to hand over.
    token = csrf(admin, "/en/admin/accounts")
    created = admin.post(
        "/en/admin/accounts",
        data={"csrf_token": token, "username": "tao-moi", "display_name": "Tạo Mới", "role": "lead"},
    )
    assert created.status_code == 201
    one_time_password = re.findall(r'<code class="secret">([^<]+)</code>', created.get_data(as_text=True))[0]
    admin.post(f"/en/admin/accounts/{locked.id}/unlock", data={"csrf_token": token})

    people = [*staff.values(), newcomer, locked]
    secrets = secrets_on_record(reviewer_app, people, intake_keys)
    secrets["tao-moi one-time password"] = {one_time_password}
    with database(reviewer_app).session() as session:
        accounts = list(session.scalars(select(Inspector)))
    pages = crawl(admin, every_get_route(reviewer_app, [1, 2], accounts))
    assert {"/en/admin/accounts", "/vi/admin/audit", "/en/statistics", "/en/account/password"} <= set(pages)
    leaks = [
        (url, what)
        for url, body in pages.items()
        for what, spelled in secrets.items()
        for spelling in spelled
        if spelling.encode() in body
    ]
    assert leaks == []
    # The creation page showed the new account's one-time password only: not even its authenticator key.
    shown = created.get_data()
    assert [what for what, spelled in secrets.items() if any(s.encode() in shown for s in spelled)] == [
        "tao-moi one-time password",
    ]


def test_the_setup_page_shows_a_secret_only_to_its_own_account_and_only_during_setup(
    reviewer_app: Flask, intake_keys: KeyPair, staff: dict[str, Person]
) -> None:
    first = make_person(reviewer_app, intake_keys, "nguoi-moi-1", Role.INSPECTOR, enrolled=False)
    second = make_person(reviewer_app, intake_keys, "nguoi-moi-2", Role.LEAD, enrolled=False)
    browsers = {}
    for person in (first, second):
        browsers[person.username] = reviewer_app.test_client()
        assert log_in(browsers[person.username], person, code="").status_code == 302
    first, second = (with_setup_key(browsers[person.username], person, "en") for person in (first, second))
    for person, other in ((first, second), (second, first)):
        own = browsers[person.username]
        page = own.get("/en/setup").get_data(as_text=True)
        assert totp.grouped(person.totp_secret) in page
        assert other.totp_secret not in page and totp.grouped(other.totp_secret) not in page
        uri = totp.provisioning_uri(person.totp_secret, person.username, reviewer_app.config["ORG_NAME"])
        assert own.get("/en/setup/qr.png").data == totp.qr_png(uri)  # the picture is of this account's key

    for name in ("admin", "lead"):  # enrolled accounts, an admin among them
        someone = reviewer_app.test_client()
        assert log_in(someone, staff[name]).status_code == 302
        for path in ("/en/setup", "/en/setup/qr.png"):
            assert someone.get(path).status_code == 403
    stranger = reviewer_app.test_client()
    for path in ("/en/setup", "/en/setup/qr.png"):
        response = stranger.get(path)
        assert response.status_code == 302 and response.headers["Location"] == "/en/login"


def test_the_admin_who_creates_an_account_never_learns_its_second_factor(
    reviewer_app: Flask, staff: dict[str, Person]
) -> None:
    admin = reviewer_app.test_client()
    assert log_in(admin, staff["admin"]).status_code == 302
    token = csrf(admin, "/en/admin/accounts")
    data = {"csrf_token": token, "username": "nguoi-moi", "display_name": "Người Mới", "role": "lead"}
    created = admin.post("/en/admin/accounts", data=data).get_data(as_text=True)
    shown = re.findall(r'<code class="secret">([^<]+)</code>', created)
    one_time_password, key_seen_by_admin = shown[0], (shown[1:] or [None])[0]

    # The new lead logs in, chooses a password and links the authenticator, as the setup page asks.
    lead = reviewer_app.test_client()
    assert log_in(lead, Person(0, "nguoi-moi", one_time_password, ""), code="").status_code == 302
    setup = lead.get("/en/setup").get_data(as_text=True)
    key = re.search(r'<code class="secret">([^<]+)</code>', setup)
    assert key is not None
    enrolled_key = key.group(1).replace(" ", "")
    clear_of_a_step_change()
    done = lead.post(
        "/en/setup",
        data={
            "csrf_token": csrf(lead, "/en/setup"),
            "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "code": pyotp.TOTP(enrolled_key).now(),
        },
    )
    assert done.status_code == 302
    # What the admin saw must not be the second factor the lead now relies on.
    assert key_seen_by_admin is None or enrolled_key != key_seen_by_admin.replace(" ", "")
