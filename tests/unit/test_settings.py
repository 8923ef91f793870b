"""Production refuses to start without its secrets; nothing falls back to a guessable default."""

from __future__ import annotations

import pytest

from crypto.keys import generate_keypair, public_key_b64
from portal.settings import ConfigurationError, load_settings

PUBLIC = public_key_b64(generate_keypair().public)
SECRET = "s" * 40


def test_production_citizen_app_needs_every_secret() -> None:
    complete = {"INTAKE_PUBLIC_KEY": PUBLIC, "CITIZEN_SECRET_KEY": SECRET, "RECEIPT_PEPPER": SECRET}
    assert load_settings("citizen", complete)["PORTAL_ENV"] == "production"
    for missing in complete:
        env = {name: value for name, value in complete.items() if name != missing}
        with pytest.raises(ConfigurationError, match=missing):
            load_settings("citizen", env)


def test_short_secrets_and_bad_public_keys_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="at least 32"):
        load_settings("citizen", {"INTAKE_PUBLIC_KEY": PUBLIC, "CITIZEN_SECRET_KEY": "short", "RECEIPT_PEPPER": SECRET})
    with pytest.raises(ConfigurationError, match="INTAKE_PUBLIC_KEY is invalid"):
        load_settings(
            "citizen", {"INTAKE_PUBLIC_KEY": "bm90IGEga2V5", "CITIZEN_SECRET_KEY": SECRET, "RECEIPT_PEPPER": SECRET}
        )


def test_the_citizen_app_holds_no_private_key_setting() -> None:
    settings = load_settings(
        "citizen", {"INTAKE_PUBLIC_KEY": PUBLIC, "CITIZEN_SECRET_KEY": SECRET, "RECEIPT_PEPPER": SECRET}
    )
    assert not [name for name in settings if "PRIVATE" in name or "PASSPHRASE" in name]


def test_the_cheap_test_kdf_is_refused_in_production() -> None:
    with pytest.raises(ConfigurationError, match="KDF_COST"):
        load_settings("reviewer", {"REVIEWER_SECRET_KEY": SECRET, "AUDIT_KEY": SECRET, "KDF_COST": "testing"})


def test_production_reviewer_app_needs_its_secret_and_audit_key() -> None:
    complete = {"REVIEWER_SECRET_KEY": SECRET, "AUDIT_KEY": SECRET}
    settings = load_settings("reviewer", complete)
    assert settings["AUDIT_KEY"] == SECRET.encode() and settings["SESSION_COOKIE_SAMESITE"] == "Strict"
    assert (settings["SESSION_IDLE_MINUTES"], settings["SESSION_MAX_HOURS"]) == (30, 8)
    for missing in complete:
        with pytest.raises(ConfigurationError, match=missing):
            load_settings("reviewer", {name: value for name, value in complete.items() if name != missing})
    # "²" and "٣" are digits to Python's str.isdigit, but no whole number an operator meant.
    for wrong in ("0", "-5", "2.5", "²", "٣"):
        with pytest.raises(ConfigurationError, match="SESSION_IDLE_MINUTES"):
            load_settings("reviewer", {**complete, "SESSION_IDLE_MINUTES": wrong})


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="PORTAL_ENV"):
        load_settings("reviewer", {"PORTAL_ENV": "staging"})
