"""Login, first-login setup (new password and authenticator app), password change, logout."""

from __future__ import annotations

from flask import Response, current_app, flash, make_response, redirect, render_template, session, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete

from portal import accounts, audit, logins, totp
from portal.accounts import utcnow
from portal.db import get_db
from portal.login_sessions import READY, SETUP, close_session, open_session
from portal.models import ReviewerSession
from portal.reviewer import bp
from portal.reviewer.access import ANY_ROLE, ANY_STAGE, TOKEN, Login, allow, current_login, home_endpoint, lifetime
from portal.reviewer.forms import ActionForm, LoginForm, PasswordForm, SetupForm

LOGIN_FAILED = _l(
    "The user name, password or code is not right. After several failed attempts an account is locked for a while."
)
WRONG_CODE = _l("This code is not right, or it was already used. Wait for the next code and try again.")
WRONG_PASSWORD = _l("The current password is not right.")
PASSWORD_CHANGED = _l("Your password was changed. Your other sessions were ended.")
SIGNED_OUT = _l("You have logged out.")


def _settings() -> logins.LoginSettings:
    config = current_app.config
    return logins.LoginSettings(config["KDF_COST"], config["SECRET_KEY"], config["AUDIT_KEY"], lifetime())


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int]:
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("reviewer/login.html", form=form), 400 if form.errors else 200
    credentials = logins.Credentials(form.username.data.lower(), form.password.data, form.code.data or "")
    result = logins.log_in(get_db(), credentials, _settings(), utcnow())
    if result.token is None:
        form.password.errors = [str(LOGIN_FAILED)]
        return render_template("reviewer/login.html", form=form), 401
    # A new cookie at every login: a session id planted before login is worth nothing after it, and a
    # login this browser still held is closed with its copy of the keys.
    previous = session.get(TOKEN)
    if isinstance(previous, str):
        with get_db().transaction() as write:
            close_session(write, previous)
    session.clear()
    session[TOKEN] = result.token
    return redirect(url_for("reviewer.setup" if result.stage == SETUP else "reviewer.home"))


@bp.get("/")
@allow(*ANY_ROLE)
def home() -> Response:
    return redirect(url_for(home_endpoint(current_login().role)))


@bp.post("/logout")
@allow(*ANY_ROLE, stages=ANY_STAGE)
def logout() -> Response:
    form = ActionForm()
    if form.validate_on_submit():
        login = current_login()
        with get_db().transaction() as write:
            close_session(write, login.token)
            audit.record(
                write,
                current_app.config["AUDIT_KEY"],
                audit.Action.LOGOUT,
                actor_id=login.inspector.id,
                actor=login.inspector.username,
            )
        session.clear()
        flash(str(SIGNED_OUT))
    return redirect(url_for("reviewer.login"))


@bp.route("/setup", methods=["GET", "POST"])
@allow(*ANY_ROLE, stages=frozenset({SETUP}))
def setup() -> Response | tuple[str, int]:
    """First login: choose a password of one's own and enrol the authenticator app, in one step."""
    login = current_login()
    inspector = login.inspector
    secret = totp.decrypt_secret(inspector.encrypted_totp_secret, current_app.config["SECRET_KEY"])
    form = SetupForm()
    if form.validate_on_submit():
        problem = accounts.password_problem(inspector.username, form.new_password.data)
        step = totp.accepted_step(secret, form.code.data, now=utcnow(), last_step=None)
        if problem is not None:
            form.new_password.errors = [str(problem)]
        elif step is None:
            form.code.errors = [str(WRONG_CODE)]
        else:
            _finish_setup(login, form.new_password.data, step)
            return redirect(url_for("reviewer.home"))
    page = render_template("reviewer/setup.html", form=form, secret=totp.grouped(secret))
    return page, 400 if form.errors else 200


def _finish_setup(login: Login, new_password: str, step: int) -> None:
    inspector = login.inspector
    # Argon2 runs before the write transaction opens.
    secrets = accounts.password_secrets(new_password, login.keyring, current_app.config["KDF_COST"])
    now = utcnow()
    with get_db().transaction() as write:
        target = write.merge(inspector)
        secrets.apply_to(target)
        target.totp_enrolled = True
        target.totp_last_step = step
        # The setup session becomes a full one under a new token, as at any change of privilege.
        close_session(write, login.token)
        token = open_session(write, target, secrets.copy.keyring, READY, now)
        key = current_app.config["AUDIT_KEY"]
        for action in (audit.Action.PASSWORD_CHANGED, audit.Action.TOTP_ENROLLED):
            audit.record(write, key, action, actor_id=target.id, actor=target.username, now=now)
    session.clear()
    session[TOKEN] = token


@bp.get("/setup/qr.png")
@allow(*ANY_ROLE, stages=frozenset({SETUP}))
def setup_qr() -> Response:
    inspector = current_login().inspector
    secret = totp.decrypt_secret(inspector.encrypted_totp_secret, current_app.config["SECRET_KEY"])
    uri = totp.provisioning_uri(secret, inspector.username, current_app.config["ORG_NAME"])
    response = make_response(totp.qr_png(uri))
    response.mimetype = "image/png"
    return response


@bp.route("/account/password", methods=["GET", "POST"])
@allow(*ANY_ROLE)
def password() -> Response | tuple[str, int]:
    login = current_login()
    inspector = login.inspector
    form = PasswordForm()
    if form.validate_on_submit():
        cost = current_app.config["KDF_COST"]
        problem = accounts.password_problem(inspector.username, form.new_password.data)
        if not accounts.password_matches(
            accounts.password_hasher(cost), inspector.password_hash, form.current_password.data
        ):
            form.current_password.errors = [str(WRONG_PASSWORD)]
            logins.wrong_current_password(get_db(), _settings(), inspector, utcnow())
        elif problem is not None:
            form.new_password.errors = [str(problem)]
        else:
            secrets = accounts.password_secrets(form.new_password.data, login.keyring, cost)
            with get_db().transaction() as write:
                secrets.apply_to(write.merge(inspector))
                # Other browsers logged in with the old password lose their session and its keys.
                write.execute(
                    delete(ReviewerSession).where(
                        ReviewerSession.inspector_id == inspector.id, ReviewerSession.id != login.row.id
                    )
                )
                audit.record(
                    write,
                    current_app.config["AUDIT_KEY"],
                    audit.Action.PASSWORD_CHANGED,
                    actor_id=inspector.id,
                    actor=inspector.username,
                )
            flash(str(PASSWORD_CHANGED))
            return redirect(url_for("reviewer.home"))
    return render_template("reviewer/password.html", form=form), 400 if form.errors else 200
