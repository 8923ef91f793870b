"""Administration: accounts (add, deactivate, unlock) and the audit trail. Administrators hold a
copy of the intake keys only so they can give one to a new account; no admin page decrypts a case."""

from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal import accounts, audit, intake_keys
from portal.accounts import Role, utcnow
from portal.db import get_db, request_session
from portal.forms import row_id
from portal.models import Inspector
from portal.reviewer import bp
from portal.reviewer.access import allow, current_login
from portal.reviewer.forms import AccountForm, ActionForm

USERNAME_TAKEN = _l("This user name is already taken.")
OLD_KEYS = _l(
    "The intake key was rotated after you logged in, so your session cannot give the new key to an account."
    " Log out, log in again, and add the account then."
)
DEACTIVATED = _l("The account was deactivated; its copy of the keys and its sessions were deleted.")
UNLOCKED = _l("The account was unlocked.")
NOT_YOURSELF = _l("You cannot deactivate your own account.")
AUDIT_PAGE_SIZE = 100
ACTION_LABELS = {
    audit.Action.LOGIN: _l("Logged in"),
    audit.Action.LOGIN_FAILED: _l("Failed login"),
    audit.Action.LOGOUT: _l("Logged out"),
    audit.Action.SESSION_EXPIRED: _l("Session expired"),
    audit.Action.TOTP_ENROLLED: _l("Authenticator linked"),
    audit.Action.PASSWORD_CHANGED: _l("Password changed"),
    audit.Action.ACCOUNT_CREATED: _l("Account created"),
    audit.Action.ACCOUNT_DEACTIVATED: _l("Account deactivated"),
    audit.Action.ACCOUNT_UNLOCKED: _l("Account unlocked"),
    audit.Action.CASE_VIEWED: _l("Case opened"),
    audit.Action.FILE_DECRYPTED: _l("File decrypted"),
    audit.Action.CASE_EXPORTED: _l("Case exported for handover"),
    audit.Action.IDENTITY_REVEALED: _l("Identity revealed"),
    audit.Action.TRANSITION: _l("Step taken"),
    audit.Action.ASSIGNMENT: _l("Assignment changed"),
    audit.Action.CLASSIFICATION: _l("Classification saved"),
    audit.Action.MESSAGE_SENT: _l("Message to the reporter"),
    audit.Action.NOTE_ADDED: _l("Internal note"),
    audit.Action.AUDIT_VIEWED: _l("Audit trail viewed"),
    audit.Action.KEY_CREATED: _l("Intake key created"),
    audit.Action.KEY_ROTATED: _l("Intake key rotated"),
    audit.Action.RECOVERY_PASSPHRASE_CHANGED: _l("Recovery passphrase changed"),
    audit.Action.BACKUP_CREATED: _l("Backup created"),
    audit.Action.BACKUP_RESTORED: _l("Backup restored"),
    audit.Action.CASE_PURGE_STARTED: _l("Case deletion begun (retention)"),
    audit.Action.CASE_PURGED: _l("Case deleted (retention)"),
}


@bp.route("/admin/accounts", methods=["GET", "POST"])
@allow(Role.ADMIN)
def accounts_page() -> tuple[str, int]:
    form = AccountForm()
    created = None
    if form.validate_on_submit():
        created = _create(form)
    people = request_session().scalars(select(Inspector).order_by(Inspector.active.desc(), Inspector.username))
    page = render_template(
        "reviewer/accounts.html",
        form=AccountForm(formdata=None) if created else form,
        created=created,
        people=list(people),
        action_form=ActionForm(),
        role_labels=accounts.ROLE_LABELS,
        now=utcnow(),
    )
    return page, 201 if created else (400 if form.errors else 200)


def _create(form: AccountForm) -> accounts.NewAccount | None:
    login = current_login()
    config = current_app.config
    username = form.username.data
    if accounts.username_taken(request_session(), username):
        form.username.errors = [str(USERNAME_TAKEN)]
        return None
    if intake_keys.active_key_id(request_session()) not in login.keyring.intake:
        form.username.errors = [str(OLD_KEYS)]
        return None
    account = accounts.new_account(
        username=username,
        display_name=form.display_name.data,
        role=Role(form.role.data),
        keyring=login.keyring,
        cost=config["KDF_COST"],
        app_secret_key=config["SECRET_KEY"],
    )
    try:
        accounts.store_account(
            get_db(), account, config["AUDIT_KEY"], actor_id=login.inspector.id, actor=login.inspector.username
        )
    except accounts.UsernameTaken:
        form.username.errors = [str(USERNAME_TAKEN)]
        return None
    return account


@bp.post("/admin/accounts/<id:inspector_id>/deactivate")
@allow(Role.ADMIN)
def deactivate(inspector_id: int) -> Response:
    return _account_action(inspector_id, audit.Action.ACCOUNT_DEACTIVATED)


@bp.post("/admin/accounts/<id:inspector_id>/unlock")
@allow(Role.ADMIN)
def unlock(inspector_id: int) -> Response:
    return _account_action(inspector_id, audit.Action.ACCOUNT_UNLOCKED)


def _account_action(inspector_id: int, action: audit.Action) -> Response:
    login = current_login()
    if not ActionForm().validate_on_submit():
        abort(400)
    if action == audit.Action.ACCOUNT_DEACTIVATED and inspector_id == login.inspector.id:
        flash(str(NOT_YOURSELF))
        return redirect(url_for("reviewer.accounts_page"))
    with get_db().transaction() as write:
        person = write.get(Inspector, inspector_id)
        if person is None:
            abort(404)
        if action == audit.Action.ACCOUNT_DEACTIVATED:
            accounts.deactivate(write, person)
        else:
            accounts.unlock(person)
        audit.record(
            write,
            current_app.config["AUDIT_KEY"],
            action,
            actor_id=login.inspector.id,
            actor=login.inspector.username,
            detail={"username": person.username},
        )
    flash(str(DEACTIVATED if action == audit.Action.ACCOUNT_DEACTIVATED else UNLOCKED))
    return redirect(url_for("reviewer.accounts_page"))


@bp.get("/admin/audit")
@allow(Role.ADMIN)
def audit_page() -> str:
    login = current_login()
    with get_db().transaction() as write:
        audit.record(
            write,
            current_app.config["AUDIT_KEY"],
            audit.Action.AUDIT_VIEWED,
            actor_id=login.inspector.id,
            actor=login.inspector.username,
        )
    action = request.args.get("action", "")
    actor = request.args.get("actor") or None
    events = audit.recent(
        request_session(),
        limit=AUDIT_PAGE_SIZE,
        before_id=row_id(request.args.get("before")),
        action=action if action in set(audit.Action) else None,
        # A user name is at most 64 printable characters; anything else matches nobody.
        actor=actor if actor and len(actor) <= 64 and actor.isprintable() else None,
        case_id=row_id(request.args.get("case")),
    )
    return render_template(
        "reviewer/audit.html", events=events, action_labels=ACTION_LABELS, page_size=AUDIT_PAGE_SIZE, args=request.args
    )
