"""Key rotation: a new intake key for new reports, old cases still open, every active inspector granted the
new key at their next login, departed ones nothing; and a changeable recovery passphrase."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crypto.keyring import Keyring, pack_keyring, seal_grant
from crypto.keys import KeyPair, generate_keypair, key_id, parse_public_key_b64
from crypto.wrapping import TESTING, wrap_with_passphrase
from portal import accounts, create_citizen_app
from portal import intake_keys as custody
from portal.models import AuditEvent, Case, Inspector, IntakeKey, KeyGrant
from tests.conftest import close_database
from tests.helpers import file_report
from tests.reviewer_helpers import (
    PASSWORD,
    RECOVERY_PASSPHRASE,
    Person,
    clear_of_a_step_change,
    csrf,
    inspector_row,
    log_in,
)


def run(app: Flask, *args: str) -> Any:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result


def rotate(app: Flask, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("INTAKE_RECOVERY_PASSPHRASE", RECOVERY_PASSPHRASE)
    return json.loads(run(app, "keys", "rotate", "--json").output)


def count(app: Flask, model: type, *where: Any) -> int:
    with app.extensions["portal_db"].session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def citizen_with(env: dict[str, str]) -> Iterator[Any]:
    """A citizen portal configured with a given intake public key, as the operator does after a rotation."""
    apps: list[Flask] = []

    def make(public_key_b64: str) -> FlaskClient:
        app = create_citizen_app({**env, "INTAKE_PUBLIC_KEY": public_key_b64})
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        close_database(app)


def case_id_sealed_to(app: Flask, kid: str) -> int:
    with app.extensions["portal_db"].session() as session:
        return session.scalars(select(Case.id).where(Case.intake_key_id == kid)).one()


def logged_in(app: Flask, person: Person, offset_steps: int = 0) -> FlaskClient:
    browser = app.test_client()
    response = log_in(browser, person, code=person.code(offset_steps))
    assert response.status_code == 302 and response.headers["Location"] == "/vi/", response
    return browser


def test_a_rotated_key_seals_new_reports_and_old_cases_still_open(
    reviewer_app: Flask,
    staff: dict[str, Person],
    client: FlaskClient,
    intake_keys: KeyPair,
    citizen_with: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old_id = key_id(intake_keys.public)
    file_report(client, narrative="Báo cáo trước khi đổi khóa: cán bộ nhận tiền.")
    created = rotate(reviewer_app, monkeypatch)
    new_public = parse_public_key_b64(created["public_key"])
    assert created["key_id"] == key_id(new_public) != old_id
    assert sorted(created["granted_to"]) == sorted(person.username for person in staff.values())
    file_report(citizen_with(created["public_key"]), narrative="Báo cáo sau khi đổi khóa: cán bộ nhận quà.")

    with reviewer_app.extensions["portal_db"].session() as session:
        keys = {record.id: record for record in session.scalars(select(IntakeKey))}
        assert {kid: record.active for kid, record in keys.items()} == {old_id: False, created["key_id"]: True}
        # Both private keys stay wrapped under the one recovery passphrase: no case is ever orphaned.
        recovered = custody.recovery_keyring(reviewer_app.extensions["portal_db"], RECOVERY_PASSPHRASE)
        assert set(recovered.intake) == {old_id, created["key_id"]}
        assert custody.active_key_id(session) == created["key_id"]

    clear_of_a_step_change()
    lead = logged_in(reviewer_app, staff["lead"])
    old_case = lead.get(f"/vi/cases/{case_id_sealed_to(reviewer_app, old_id)}").get_data(as_text=True)
    new_case = lead.get(f"/vi/cases/{case_id_sealed_to(reviewer_app, created['key_id'])}").get_data(as_text=True)
    assert "trước khi đổi khóa" in old_case
    assert "sau khi đổi khóa" in new_case

    # The grant is now part of the lead's own copy, under their password, and the grant row is gone.
    row = inspector_row(reviewer_app, "demo-lead")
    assert set(accounts.unwrap_keyring(row, PASSWORD).intake) == {old_id, created["key_id"]}
    assert count(reviewer_app, KeyGrant, KeyGrant.inspector_id == row.id) == 0
    [login] = [event for event in audit_events(reviewer_app, "login") if event.actor == "demo-lead"]
    assert created["key_id"] in login.detail


def audit_events(app: Flask, action: str) -> list[AuditEvent]:
    with app.extensions["portal_db"].session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_the_rotation_is_audited_and_the_trail_still_verifies(
    reviewer_app: Flask, staff: dict[str, Person], intake_keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = rotate(reviewer_app, monkeypatch)
    [event] = audit_events(reviewer_app, "key_rotated")
    detail = json.loads(event.detail)
    assert detail["key"] == created["key_id"] and detail["retired"] == [key_id(intake_keys.public)]
    assert detail["granted"] == len(staff)
    assert "The audit trail verifies" in run(reviewer_app, "audit", "verify").output


def test_a_departed_inspector_gets_nothing_from_a_rotation(
    reviewer_app: Flask, staff: dict[str, Person], monkeypatch: pytest.MonkeyPatch
) -> None:
    with reviewer_app.extensions["portal_db"].transaction() as session:
        accounts.deactivate(session, session.get(Inspector, staff["inspector"].id))
    created = rotate(reviewer_app, monkeypatch)
    assert "demo-inspector" not in created["granted_to"]
    assert count(reviewer_app, KeyGrant, KeyGrant.inspector_id == staff["inspector"].id) == 0
    assert count(reviewer_app, KeyGrant) == len(staff) - 1


def test_deactivating_an_account_deletes_its_unclaimed_grants(
    reviewer_app: Flask, staff: dict[str, Person], monkeypatch: pytest.MonkeyPatch
) -> None:
    rotate(reviewer_app, monkeypatch)
    assert count(reviewer_app, KeyGrant, KeyGrant.inspector_id == staff["inspector"].id) == 1
    with reviewer_app.extensions["portal_db"].transaction() as session:
        accounts.deactivate(session, session.get(Inspector, staff["inspector"].id))
    assert count(reviewer_app, KeyGrant, KeyGrant.inspector_id == staff["inspector"].id) == 0
    assert inspector_row(reviewer_app, "demo-inspector").grant_public_key is None


def test_a_session_from_before_the_rotation_is_told_to_log_in_again(
    reviewer_app: Flask,
    staff: dict[str, Person],
    citizen_with: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clear_of_a_step_change()
    lead = logged_in(reviewer_app, staff["lead"], offset_steps=-1)
    created = rotate(reviewer_app, monkeypatch)
    file_report(citizen_with(created["public_key"]))
    new_case = case_id_sealed_to(reviewer_app, created["key_id"])

    response = lead.get(f"/en/cases/{new_case}", follow_redirects=True)
    assert "newer intake key than your login holds" in response.get_data(as_text=True)
    assert audit_events(reviewer_app, "case_viewed") == []

    again = logged_in(reviewer_app, staff["lead"])
    assert again.get(f"/vi/cases/{new_case}").status_code == 200


def test_an_admin_session_from_before_the_rotation_cannot_create_an_account_without_the_new_key(
    reviewer_app: Flask,
    staff: dict[str, Person],
    citizen_with: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clear_of_a_step_change()
    admin = logged_in(reviewer_app, staff["admin"], offset_steps=-1)
    created = rotate(reviewer_app, monkeypatch)

    def add(browser: FlaskClient, username: str) -> Any:
        data = {"csrf_token": csrf(browser, "/en/admin/accounts"), "username": username}
        return browser.post("/en/admin/accounts", data={**data, "display_name": "Người mới", "role": "lead"})

    refused = add(admin, "nguoi.moi")
    assert refused.status_code == 400
    assert "Log out, log in again" in refused.get_data(as_text=True)
    assert count(reviewer_app, Inspector, Inspector.username == "nguoi.moi") == 0

    admin = logged_in(reviewer_app, staff["admin"])
    added = add(admin, "nguoi.moi")
    assert added.status_code == 201
    password = re.search(r'<code class="secret">([^<]+)</code>', added.get_data(as_text=True))
    assert password
    newcomer = accounts.unwrap_keyring(inspector_row(reviewer_app, "nguoi.moi"), password.group(1))
    assert created["key_id"] in newcomer.intake
    # The admin's own grant key never travels to the new account.
    admin_grant = inspector_row(reviewer_app, "demo-admin").grant_public_key
    assert newcomer.grant is not None and newcomer.grant.public != admin_grant


def test_a_wrong_recovery_passphrase_rotates_nothing(
    reviewer_app: Flask, staff: dict[str, Person], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTAKE_RECOVERY_PASSPHRASE", "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ")
    events = count(reviewer_app, AuditEvent)
    result = reviewer_app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code != 0
    assert "The recovery passphrase does not open the intake keys." in result.output
    assert count(reviewer_app, IntakeKey) == 1 and count(reviewer_app, KeyGrant) == 0
    assert count(reviewer_app, AuditEvent) == events


def test_rotation_before_any_key_says_what_to_do_first(reviewer_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_RECOVERY_PASSPHRASE", RECOVERY_PASSPHRASE)
    result = reviewer_app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code != 0 and "keys init" in result.output


def test_a_grant_that_does_not_open_is_left_and_the_login_still_works(
    reviewer_app: Flask, staff: dict[str, Person], monkeypatch: pytest.MonkeyPatch
) -> None:
    created = rotate(reviewer_app, monkeypatch)
    stranger = generate_keypair()
    with reviewer_app.extensions["portal_db"].transaction() as session:
        grant = session.get(KeyGrant, (staff["lead"].id, created["key_id"]))
        # Someone with write access swaps in a key of their own, sealed to the lead: its id does not match.
        grant.sealed_private_key = seal_grant(stranger, session.get(Inspector, staff["lead"].id).grant_public_key)
    clear_of_a_step_change()
    logged_in(reviewer_app, staff["lead"])
    held = accounts.unwrap_keyring(inspector_row(reviewer_app, "demo-lead"), PASSWORD)
    assert created["key_id"] not in held.intake and key_id(stranger.public) not in held.intake
    assert count(reviewer_app, KeyGrant, KeyGrant.inspector_id == staff["lead"].id) == 1


def test_a_copy_from_before_rotation_existed_gets_a_grant_key_at_the_next_login(
    reviewer_app: Flask, staff: dict[str, Person], intake_keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    with reviewer_app.extensions["portal_db"].transaction() as session:
        row = session.get(Inspector, staff["lead"].id)
        row.wrapped_keyring = wrap_with_passphrase(
            pack_keyring(Keyring({key_id(intake_keys.public): intake_keys})), PASSWORD, TESTING
        )
        row.grant_public_key = None
    created = rotate(reviewer_app, monkeypatch)
    assert created["not_granted"] == ["demo-lead"]

    clear_of_a_step_change()
    logged_in(reviewer_app, staff["lead"])
    row = inspector_row(reviewer_app, "demo-lead")
    held = accounts.unwrap_keyring(row, PASSWORD)
    assert held.grant is not None and row.grant_public_key == held.grant.public
    # The next rotation reaches the person.
    assert "demo-lead" in rotate(reviewer_app, monkeypatch)["granted_to"]


def test_the_recovery_passphrase_can_be_changed(
    reviewer_app: Flask, staff: dict[str, Person], intake_keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = rotate(reviewer_app, monkeypatch)
    changed = json.loads(run(reviewer_app, "keys", "change-recovery", "--json").output)
    new_passphrase = changed["recovery_passphrase"]
    assert new_passphrase != RECOVERY_PASSPHRASE

    db = reviewer_app.extensions["portal_db"]
    with pytest.raises(custody.WrongRecoveryPassphrase):
        custody.recovery_keyring(db, RECOVERY_PASSPHRASE)
    reopened = custody.recovery_keyring(db, new_passphrase.lower().replace("-", " "))
    assert set(reopened.intake) == {key_id(intake_keys.public), created["key_id"]}
    assert reopened.intake[key_id(intake_keys.public)].private == intake_keys.private
    [event] = audit_events(reviewer_app, "recovery_passphrase_changed")
    assert new_passphrase not in event.detail and RECOVERY_PASSPHRASE not in event.detail

    # The old passphrase no longer adds an account; the new one does.
    refused = reviewer_app.test_cli_runner().invoke(args=["inspectors", "add", "x.y", "--role", "lead"])
    assert refused.exit_code != 0
    monkeypatch.setenv("INTAKE_RECOVERY_PASSPHRASE", new_passphrase)
    run(reviewer_app, "inspectors", "add", "x.y", "--role", "lead")


def test_keys_list_shows_each_key_its_state_and_cases(
    reviewer_app: Flask,
    staff: dict[str, Person],
    client: FlaskClient,
    intake_keys: KeyPair,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    file_report(client)
    created = rotate(reviewer_app, monkeypatch)
    lines = run(reviewer_app, "keys", "list").output.splitlines()
    old_line = next(line for line in lines if line.startswith(key_id(intake_keys.public)))
    new_line = next(line for line in lines if line.startswith(created["key_id"]))
    assert old_line.split()[2:] == ["retired", "1", "0"]
    assert new_line.split()[2:] == ["active", "0", str(len(staff))]
    assert lines[-1] == f"INTAKE_PUBLIC_KEY={created['public_key']}"


def test_a_password_changed_meanwhile_is_not_overwritten_by_a_login_claiming_a_grant(
    reviewer_app: Flask, staff: dict[str, Person], intake_keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = rotate(reviewer_app, monkeypatch)
    other_password = "another long password 2"
    elsewhere = accounts.password_secrets(other_password, Keyring({key_id(intake_keys.public): intake_keys}), TESTING)
    claim = custody.claim_grants

    def while_the_person_changes_their_password_in_another_browser(*args: Any) -> Any:
        with reviewer_app.extensions["portal_db"].transaction() as session:
            elsewhere.apply_to(session.get(Inspector, staff["lead"].id))
        return claim(*args)

    monkeypatch.setattr(custody, "claim_grants", while_the_person_changes_their_password_in_another_browser)
    clear_of_a_step_change()
    logged_in(reviewer_app, staff["lead"])
    row = inspector_row(reviewer_app, "demo-lead")
    # The other browser's new password still opens the copy; the grant waits for the next login.
    assert key_id(intake_keys.public) in accounts.unwrap_keyring(row, other_password).intake
    assert (
        count(
            reviewer_app,
            KeyGrant,
            KeyGrant.inspector_id == staff["lead"].id,
            KeyGrant.intake_key_id == created["key_id"],
        )
        == 1
    )
