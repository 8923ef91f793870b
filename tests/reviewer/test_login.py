"""Logging in to the reviewer app, and every way a login ends, as the person and an attacker see it.

What this proves:
- a login issues a new cookie with a new server-side token: a cookie from before the login (or one
  planted by someone else) is not logged in afterwards;
- a wrong password, an unknown user name, a wrong, missing or reused one-time code all get the
  same 401 and the same generic message, no cookie that logs in, and a `login_failed` event in
  the audit trail (with the user name of an existing account, never the typed name of an
  unknown one), committed even though the login failed;
- five failures lock the account, even against the right password and code, until an admin
  unlocks it;
- the first login of a new account leads to the setup page and nowhere else until a new password
  and a working authenticator code are given; afterwards the one-time password is dead;
- logout is a POST with a CSRF token that deletes the session row; idle (30 min) and absolute
  (8 h) expiry end the session, delete the row and are audited;
- a password change needs the current password, and ends the person's other sessions;
- a burst of logins from one address is rate limited.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from crypto.keys import KeyPair
from portal import accounts, totp
from portal.accounts import Role, utcnow
from portal.models import AuditEvent, Inspector, ReviewerSession
from tests.reviewer_helpers import PASSWORD, Person, clear_of_a_step_change, csrf, log_in, make_person, with_setup_key

COOKIE = "reviewer_session"
LOGIN_FAILED = "The user name, password or code is not right."
SESSION_ENDED = "Your session has ended. Log in again to continue."
NEW_PASSWORD = "my own new passphrase 7"


# --- helpers -----------------------------------------------------------------------------------


def database(app: Flask) -> Any:
    return app.extensions["portal_db"]


def audit_events(app: Flask, action: str | None = None) -> list[AuditEvent]:
    """The trail in order; only the events of `action` when given."""
    query = select(AuditEvent).order_by(AuditEvent.id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    with database(app).session() as session:
        return list(session.scalars(query))


def inspector(app: Flask, person: Person) -> Inspector:
    with database(app).session() as session:
        row = session.get(Inspector, person.id)
        assert row is not None
        return row


def sessions(app: Flask, person: Person | None = None) -> list[ReviewerSession]:
    query = select(ReviewerSession)
    if person is not None:
        query = query.where(ReviewerSession.inspector_id == person.id)
    with database(app).session() as session:
        return list(session.scalars(query))


def is_logged_in(browser: FlaskClient) -> bool:
    """What the person sees: the app's pages, or a redirect back to the login page."""
    response = browser.get("/en/statistics")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and response.headers["Location"] in ("/en/login", "/en/setup")
    return False


def cookie(browser: FlaskClient) -> str | None:
    found = browser.get_cookie(COOKIE)
    return found.value if found is not None else None


def with_cookie(app: Flask, value: str) -> FlaskClient:
    """A fresh browser holding a copied cookie, as a thief or a planted session would."""
    browser = app.test_client()
    browser.set_cookie(COOKIE, value)
    return browser


def page_errors(html: str) -> list[str]:
    return re.findall(r"<span>([^<]+)</span> ", html)


def wrong_code(person: Person) -> str:
    valid = {person.code(step) for step in range(-2, 3)}
    return next(code for code in ("000000", "123456", "999999", "424242") if code not in valid)


def log_out(browser: FlaskClient) -> Any:
    return browser.post("/en/logout", data={"csrf_token": csrf(browser, "/en/account/password")})


# --- a successful login ------------------------------------------------------------------------


def test_login_redirects_into_the_app_with_a_new_cookie(
    reviewer_app: Flask, reviewer: FlaskClient, staff: dict[str, Person]
) -> None:
    reviewer.get("/vi/login")
    before = cookie(reviewer)
    assert before is not None  # the login form's CSRF token lives in the session cookie

    response = log_in(reviewer, staff["lead"])
    assert response.status_code == 302 and response.headers["Location"] == "/vi/"
    assert reviewer.get("/vi/").headers["Location"] == "/vi/cases"
    assert reviewer.get("/vi/cases").status_code == 200
    after = cookie(reviewer)
    assert after is not None and after != before

    # The cookie from before the login is not a login, in any browser.
    replayed = with_cookie(reviewer_app, before)
    assert not is_logged_in(replayed)
    # The cookie after the login is, as long as the session lives.
    assert is_logged_in(with_cookie(reviewer_app, after))
    [login] = audit_events(reviewer_app, "login")
    assert login.actor == "demo-lead" and login.actor_id == staff["lead"].id


def test_a_planted_session_does_not_become_the_victims_login(reviewer_app: Flask, staff: dict[str, Person]) -> None:
    """Session fixation: an attacker logs in, plants their cookie in the lead's browser, and waits."""
    attacker = reviewer_app.test_client()
    assert log_in(attacker, staff["inspector"]).status_code == 302
    planted = cookie(attacker)
    assert planted is not None

    victim = with_cookie(reviewer_app, planted)
    assert log_in(victim, staff["lead"]).status_code == 302
    assert cookie(victim) != planted
    assert victim.get("/en/cases/1").status_code in (200, 404)  # a lead's login
    # Logging in closed the login the browser held: the planted cookie now opens nothing at all.
    attacker_again = with_cookie(reviewer_app, planted)
    response = attacker_again.get("/en/statistics")
    assert response.status_code == 302 and response.headers["Location"].endswith("/en/login")


# --- failures ----------------------------------------------------------------------------------


def test_wrong_password_is_refused_and_audited(
    reviewer_app: Flask, reviewer: FlaskClient, staff: dict[str, Person]
) -> None:
    lead = staff["lead"]
    wrong = Person(lead.id, lead.username, "not the password at all", lead.totp_secret)
    response = log_in(reviewer, wrong, lang="en")
    assert response.status_code == 401
    assert LOGIN_FAILED in response.get_data(as_text=True)
    assert not is_logged_in(reviewer)
    assert sessions(reviewer_app) == []
    [failure] = audit_events(reviewer_app, "login_failed")
    assert failure.actor == "demo-lead" and failure.actor_id == lead.id
    assert "wrong password" in failure.detail
    assert inspector(reviewer_app, lead).failed_logins == 1


def test_five_failures_lock_the_account_until_an_admin_unlocks_it(
    reviewer_app: Flask, staff: dict[str, Person]
) -> None:
    target = staff["inspector"]
    wrong = Person(target.id, target.username, "guessing the password", target.totp_secret)
    browser = reviewer_app.test_client()
    for attempt in range(5):
        assert log_in(browser, wrong).status_code == 401, attempt
    row = inspector(reviewer_app, target)
    assert row.failed_logins == 5
    assert row.locked_until is not None and row.locked_until > utcnow()

    # Locked: even the right password and a good code are refused, with the same message.
    refused = log_in(browser, target, lang="en")
    assert refused.status_code == 401 and LOGIN_FAILED in refused.get_data(as_text=True)
    assert not is_logged_in(browser)
    reasons = [event.detail for event in audit_events(reviewer_app, "login_failed")]
    assert len(reasons) == 6 and "locked" in reasons[-1]

    admin = reviewer_app.test_client()
    assert log_in(admin, staff["admin"]).status_code == 302
    unlocked = admin.post(
        f"/vi/admin/accounts/{target.id}/unlock", data={"csrf_token": csrf(admin, "/vi/account/password")}
    )
    assert unlocked.status_code == 302
    row = inspector(reviewer_app, target)
    assert row.locked_until is None and row.failed_logins == 0
    [unlock] = audit_events(reviewer_app, "account_unlocked")
    assert unlock.actor == "demo-admin" and "demo-inspector" in unlock.detail

    assert log_in(browser, target, code=target.code(1)).status_code == 302
    assert is_logged_in(browser)


def test_the_admin_sees_a_locked_account_and_can_unlock_it_from_the_page(
    reviewer_app: Flask, staff: dict[str, Person]
) -> None:
    target = staff["inspector"]
    wrong = Person(target.id, target.username, "guessing the password", target.totp_secret)
    for _attempt in range(5):
        assert log_in(reviewer_app.test_client(), wrong).status_code == 401
    admin = reviewer_app.test_client()
    assert log_in(admin, staff["admin"]).status_code == 302
    page = admin.get("/en/admin/accounts")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "locked until" in html
    assert f'action="/en/admin/accounts/{target.id}/unlock"' in html


def test_unknown_username_looks_exactly_like_a_wrong_password(
    reviewer_app: Flask, reviewer: FlaskClient, staff: dict[str, Person]
) -> None:
    lead = staff["lead"]
    wrong_password = log_in(reviewer, Person(lead.id, lead.username, "wrong password here", ""), code="123456")
    typed = "my-secret-passphrase-typed-as-name"
    unknown = log_in(reviewer, Person(0, typed, "wrong password here", ""), code="123456")
    assert unknown.status_code == wrong_password.status_code == 401

    def visible(html: str, username: str) -> str:
        html = re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "", html)
        return html.replace(username, "USERNAME")

    # The same page, word for word, but for the user name typed back into its field.
    assert visible(unknown.get_data(as_text=True), typed) == visible(wrong_password.get_data(as_text=True), "demo-lead")
    assert page_errors(unknown.get_data(as_text=True)) == page_errors(wrong_password.get_data(as_text=True))
    assert not is_logged_in(reviewer)

    first, second = audit_events(reviewer_app, "login_failed")
    assert first.actor == "demo-lead"
    assert second.actor is None and second.actor_id is None
    with database(reviewer_app).session() as session:
        trail = " ".join(f"{event.actor} {event.detail}" for event in session.scalars(select(AuditEvent)))
    assert typed not in trail


def test_a_locked_account_costs_the_same_work_as_an_unknown_one(
    reviewer_app: Flask, staff: dict[str, Person], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reply to a locked account and to an unknown user name must take as long: count the Argon2
    password checks each one runs (the deterministic stand-in for the time an attacker measures)."""
    target = staff["inspector"]
    wrong = Person(target.id, target.username, "guessing the password", target.totp_secret)
    for _attempt in range(5):
        assert log_in(reviewer_app.test_client(), wrong).status_code == 401
    assert inspector(reviewer_app, target).locked_until is not None

    checks: list[str] = []
    real = accounts.password_matches

    def counted(*args: Any) -> bool:
        checks.append("argon2")
        return real(*args)

    monkeypatch.setattr(accounts, "password_matches", counted)
    unknown = log_in(reviewer_app.test_client(), Person(0, "nobody-here", "guessing the password", ""), code="123456")
    work_for_unknown = len(checks)
    checks.clear()
    locked = log_in(reviewer_app.test_client(), wrong)
    assert unknown.status_code == locked.status_code == 401
    assert work_for_unknown == 1
    assert len(checks) == work_for_unknown


# --- one-time codes ----------------------------------------------------------------------------


def test_a_code_is_good_once_only(reviewer_app: Flask, reviewer: FlaskClient, staff: dict[str, Person]) -> None:
    person = staff["inspector"]
    code = person.code()
    assert log_in(reviewer, person, code=code).status_code == 302
    assert log_out(reviewer).status_code == 302
    assert not is_logged_in(reviewer)

    replay = log_in(reviewer, person, code=code, lang="en")
    assert replay.status_code == 401 and LOGIN_FAILED in replay.get_data(as_text=True)
    assert not is_logged_in(reviewer)
    [failure] = audit_events(reviewer_app, "login_failed")
    assert failure.actor == person.username and "wrong or used code" in failure.detail

    assert log_in(reviewer, person, code=person.code(1)).status_code == 302
    assert is_logged_in(reviewer)


def test_a_wrong_or_missing_code_is_refused(reviewer_app: Flask, staff: dict[str, Person]) -> None:
    person = staff["lead"]
    for code in (wrong_code(person), "", "12345", "abcdef"):
        browser = reviewer_app.test_client()
        response = log_in(browser, person, code=code, lang="en")
        assert response.status_code == 401, code
        assert LOGIN_FAILED in response.get_data(as_text=True)
        assert not is_logged_in(browser)
    assert len(audit_events(reviewer_app, "login_failed")) == 4
    assert sessions(reviewer_app) == []


# --- first login -------------------------------------------------------------------------------


def test_first_login_leads_through_setup(reviewer_app: Flask, intake_keys: KeyPair, staff: dict[str, Person]) -> None:
    newcomer = make_person(reviewer_app, intake_keys, "newcomer", Role.INSPECTOR, enrolled=False)
    browser = reviewer_app.test_client()
    response = log_in(browser, newcomer, code="", lang="en")
    assert response.status_code == 302 and response.headers["Location"] == "/en/setup"
    [row] = sessions(reviewer_app, newcomer)
    assert row.stage == "setup"

    for path in ("/en/cases", "/en/statistics", "/en/account/password", "/en/", "/vi/cases"):
        elsewhere = browser.get(path)
        assert elsewhere.status_code == 302, path
        assert elsewhere.headers["Location"].endswith("/setup"), path

    qr = browser.get("/en/setup/qr.png")
    assert qr.status_code == 200 and qr.mimetype == "image/png"
    assert qr.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert "no-store" in qr.headers["Cache-Control"]  # the picture holds the TOTP secret

    # The key is made at this first login and shown here, to this person only; it is the one stored.
    newcomer = with_setup_key(browser, newcomer, lang="en")
    stored = inspector(reviewer_app, newcomer).encrypted_totp_secret
    assert totp.decrypt_secret(stored, reviewer_app.config["SECRET_KEY"]) == newcomer.totp_secret

    token = csrf(browser, "/en/setup")
    short = browser.post(
        "/en/setup",
        data={"csrf_token": token, "new_password": "too short", "confirm": "too short", "code": newcomer.code()},
    )
    assert short.status_code == 400
    assert "The password must have at least 12 characters." in page_errors(short.get_data(as_text=True))
    bad_code = browser.post(
        "/en/setup",
        data={
            "csrf_token": token,
            "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "code": wrong_code(newcomer),
        },
    )
    assert bad_code.status_code == 400
    assert any("This code is not right" in error for error in page_errors(bad_code.get_data(as_text=True)))
    assert not inspector(reviewer_app, newcomer).totp_enrolled

    setup_code = newcomer.code()
    done = browser.post(
        "/en/setup",
        data={"csrf_token": token, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "code": setup_code},
    )
    assert done.status_code == 302
    assert browser.get("/en/cases").status_code == 200
    # Once set up, the secret is never shown again, even to this very session.
    assert browser.get("/en/setup").status_code == 403
    assert browser.get("/en/setup/qr.png").status_code == 403
    row = inspector(reviewer_app, newcomer)
    assert row.totp_enrolled and not row.must_change_password
    [ready] = sessions(reviewer_app, newcomer)
    assert ready.stage == "ready"
    actions = [event.action for event in audit_events(reviewer_app, "password_changed")]
    actions += [event.action for event in audit_events(reviewer_app, "totp_enrolled")]
    assert actions == ["password_changed", "totp_enrolled"]

    # The one-time password is dead; the new one works, with a later code.
    retry = reviewer_app.test_client()
    assert log_in(retry, newcomer, code=newcomer.code(1)).status_code == 401
    enrolled = Person(newcomer.id, newcomer.username, NEW_PASSWORD, newcomer.totp_secret)
    assert log_in(retry, enrolled, code=setup_code).status_code == 401  # the code used at setup is spent
    again = log_in(retry, enrolled, code=enrolled.code(1), lang="en")
    assert again.status_code == 302 and again.headers["Location"] == "/en/"
    assert is_logged_in(retry)


def test_first_login_password_must_not_contain_the_username(
    reviewer_app: Flask, intake_keys: KeyPair, staff: dict[str, Person]
) -> None:
    newcomer = make_person(reviewer_app, intake_keys, "nguyenvana", Role.LEAD, enrolled=False)
    browser = reviewer_app.test_client()
    assert log_in(browser, newcomer, code="").status_code == 302
    newcomer = with_setup_key(browser, newcomer)
    weak = "nguyenvana123456"
    response = browser.post(
        "/en/setup",
        data={"csrf_token": csrf(browser, "/en/setup"), "new_password": weak, "confirm": weak, "code": newcomer.code()},
    )
    assert response.status_code == 400
    assert "The password must not contain the user name." in page_errors(response.get_data(as_text=True))
    assert inspector(reviewer_app, newcomer).must_change_password


# --- logout and expiry -------------------------------------------------------------------------


def test_logout_is_a_post_with_a_csrf_token(reviewer_app: Flask, staff: dict[str, Person]) -> None:
    browser = reviewer_app.test_client()
    assert log_in(browser, staff["lead"]).status_code == 302
    held = cookie(browser)
    assert held is not None

    assert browser.get("/en/logout").status_code == 405
    assert browser.post("/en/logout").status_code == 400
    assert browser.post("/en/logout", data={"csrf_token": "made-up"}).status_code == 400
    assert is_logged_in(browser) and len(sessions(reviewer_app)) == 1

    response = log_out(browser)
    assert response.status_code == 302 and response.headers["Location"] == "/en/login"
    assert "You have logged out." in browser.get("/en/login").get_data(as_text=True)
    assert sessions(reviewer_app) == []
    assert not is_logged_in(browser)
    assert not is_logged_in(with_cookie(reviewer_app, held))
    [logout] = audit_events(reviewer_app, "logout")
    assert logout.actor == "demo-lead"


def age_session(app: Flask, person: Person, **values: Any) -> None:
    with database(app).transaction() as session:
        session.execute(update(ReviewerSession).where(ReviewerSession.inspector_id == person.id).values(**values))


def test_an_idle_session_ends(reviewer_app: Flask, staff: dict[str, Person]) -> None:
    browser = reviewer_app.test_client()
    assert log_in(browser, staff["lead"]).status_code == 302
    age_session(reviewer_app, staff["lead"], last_seen_at=utcnow() - timedelta(minutes=29))
    assert browser.get("/en/cases").status_code == 200  # still alive just under the limit

    age_session(reviewer_app, staff["lead"], last_seen_at=utcnow() - timedelta(minutes=31))
    response = browser.get("/en/cases")
    assert response.status_code == 302 and response.headers["Location"] == "/en/login"
    assert SESSION_ENDED in browser.get("/en/login").get_data(as_text=True)
    assert sessions(reviewer_app) == []
    [expired] = audit_events(reviewer_app, "session_expired")
    assert expired.actor_id == staff["lead"].id
    assert not is_logged_in(browser)


def test_a_session_ends_after_eight_hours_however_busy(reviewer_app: Flask, staff: dict[str, Person]) -> None:
    browser = reviewer_app.test_client()
    assert log_in(browser, staff["inspector"]).status_code == 302
    age_session(reviewer_app, staff["inspector"], created_at=utcnow() - timedelta(hours=8, minutes=1))
    response = browser.get("/en/statistics")
    assert response.status_code == 302 and response.headers["Location"] == "/en/login"
    assert SESSION_ENDED in browser.get("/en/login").get_data(as_text=True)
    assert sessions(reviewer_app) == []
    [expired] = audit_events(reviewer_app, "session_expired")
    assert expired.actor_id == staff["inspector"].id


def test_expired_sessions_of_others_are_purged_at_the_next_login(reviewer_app: Flask, staff: dict[str, Person]) -> None:
    """An abandoned browser leaves no wrapped keys behind once anyone logs in again."""
    abandoned = reviewer_app.test_client()
    assert log_in(abandoned, staff["inspector"]).status_code == 302
    age_session(reviewer_app, staff["inspector"], last_seen_at=utcnow() - timedelta(hours=1))
    assert log_in(reviewer_app.test_client(), staff["lead"]).status_code == 302
    assert [row.inspector_id for row in sessions(reviewer_app)] == [staff["lead"].id]


# --- password change ---------------------------------------------------------------------------


def test_password_change_needs_the_current_password_and_ends_other_sessions(
    reviewer_app: Flask, staff: dict[str, Person]
) -> None:
    person = staff["inspector"]
    here = reviewer_app.test_client()
    elsewhere = reviewer_app.test_client()
    clear_of_a_step_change()
    assert log_in(elsewhere, person, code=person.code(-1)).status_code == 302
    assert log_in(here, person, code=person.code(0)).status_code == 302
    token = csrf(here, "/en/account/password")

    wrong = here.post(
        "/en/account/password",
        data={
            "csrf_token": token,
            "current_password": "not my password",
            "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert wrong.status_code == 400
    assert "The current password is not right." in page_errors(wrong.get_data(as_text=True))
    mismatch = here.post(
        "/en/account/password",
        data={"csrf_token": token, "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": "other"},
    )
    assert mismatch.status_code == 400
    assert is_logged_in(elsewhere)

    changed = here.post(
        "/en/account/password",
        data={"csrf_token": token, "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    assert "Your password was changed." in here.get("/en/statistics").get_data(as_text=True)
    assert is_logged_in(here)
    assert not is_logged_in(elsewhere)
    assert len(sessions(reviewer_app, person)) == 1

    old = reviewer_app.test_client()
    assert log_in(old, person, code=person.code(1)).status_code == 401
    new = Person(person.id, person.username, NEW_PASSWORD, person.totp_secret)
    assert log_in(old, new, code=new.code(1)).status_code == 302
    assert is_logged_in(old)


# --- rate limit --------------------------------------------------------------------------------


def test_a_burst_of_logins_is_rate_limited(reviewer_app: Flask, staff: dict[str, Person]) -> None:
    assert reviewer_app.config["RATELIMIT_LOGIN"] == "10 per minute;60 per hour"
    browser = reviewer_app.test_client()
    guesses = [Person(0, f"guess-{attempt}", "wrong password", "") for attempt in range(10)]
    statuses = [log_in(browser, guess, code="123456").status_code for guess in guesses]
    assert statuses == [401] * 10
    limited = log_in(browser, staff["lead"], lang="en")
    assert limited.status_code == 429
    assert "no-store" in limited.headers["Cache-Control"]
    assert "frame-ancestors 'none'" in limited.headers["Content-Security-Policy"]
    assert "Too many attempts" in limited.get_data(as_text=True)
    assert not is_logged_in(browser)
    assert sessions(reviewer_app) == []
    # The page itself still loads; the limit is on attempts, and keyed to this one address.
    assert browser.get("/en/login").status_code == 200
    other = reviewer_app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.7"
    assert log_in(other, staff["lead"]).status_code == 302
