"""Configuration from environment variables.

Every knob an operator may turn is read here and nowhere else, so `config/example.env` and the
README can list them all. In production the apps refuse to start without their secrets rather
than run with a guessable default.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from crypto import wrapping
from crypto.keys import parse_public_key_b64
from portal.retention import DEFAULT_RETENTION_YEARS, MAX_RETENTION_YEARS

AppKind = Literal["citizen", "reviewer"]
PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"
DEFAULT_ORG_NAME = "Thanh tra thành phố Hà Nội"
MIN_SECRET_LENGTH = 32
MIB = 1024 * 1024
ENVIRONMENTS = ("production", "development", "testing")
# Argon2id cost of wrapping private keys; the cheap one exists only to keep the test suite fast.
KDF_COSTS = {"moderate": wrapping.MODERATE, "interactive": wrapping.INTERACTIVE, "testing": wrapping.TESTING}


class ConfigurationError(RuntimeError):
    """Raised at start-up so a misconfigured app never serves a request."""


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def default_database_url() -> str:
    return f"sqlite:///{INSTANCE_DIR / 'portal.db'}"


def _secret(env: Mapping[str, str], name: str, production: bool) -> str:
    """A secret from the environment; outside production a random one keeps dev runs working."""
    value = env.get(name, "").strip()
    if value:
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigurationError(f"{name} must be at least {MIN_SECRET_LENGTH} characters long")
        return value
    if production:
        raise ConfigurationError(f"{name} is not set; the app refuses to start without it")
    return secrets.token_urlsafe(48)


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ConfigurationError(f"{name} must be a positive whole number")
    return int(text)


def _public_key(env: Mapping[str, str], name: str) -> bytes | None:
    """An X25519 public key in base64, or None when unset; a mangled one stops the app, never seals to junk."""
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        return parse_public_key_b64(text)
    except ValueError as exc:
        raise ConfigurationError(f"{name} is invalid: {exc}") from exc


def _retention_years(env: Mapping[str, str]) -> dict[str, int]:
    """Whole years each ended state is kept (RETENTION_YEARS_<STATE>); the defaults are argued in docs/RETENTION.md."""
    years = {}
    for state, default in DEFAULT_RETENTION_YEARS.items():
        name = f"RETENTION_YEARS_{state}"
        text = env.get(name, "").strip() or str(default)
        if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_RETENTION_YEARS):
            raise ConfigurationError(f"{name} must be a whole number of years from 1 to {MAX_RETENTION_YEARS}")
        years[state] = int(text)
    return years


def load_settings(kind: AppKind, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Flask config for one app; tests pass their own `env` instead of touching os.environ."""
    env = os.environ if env is None else env
    environment = env.get("PORTAL_ENV") or "production"
    if environment not in ENVIRONMENTS:
        raise ConfigurationError(f"PORTAL_ENV must be one of {', '.join(ENVIRONMENTS)}")
    production = environment == "production"

    settings: dict[str, Any] = {
        "PORTAL_ENV": environment,
        "TESTING": environment == "testing",
        "DATABASE_URL": env.get("DATABASE_URL") or default_database_url(),
        "ORG_NAME": env.get("ORG_NAME") or DEFAULT_ORG_NAME,
        "SESSION_COOKIE_SECURE": _flag(env.get("COOKIE_SECURE"), default=True),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": f"{kind}_session",
        # A long report can take a frightened person a long while to write.
        "WTF_CSRF_TIME_LIMIT": 6 * 3600,
        "WTF_CSRF_SSL_STRICT": True,
        # Any request without files; views that take evidence files allow the upload limits instead
        # (portal/uploads.py), which the proxy's and gunicorn's body limits must match (README).
        "MAX_CONTENT_LENGTH": 2 * MIB,
        "ATTACHMENT_FILE_BYTES": _positive_int(env, "ATTACHMENT_FILE_MB", 50) * MIB,
        "ATTACHMENT_SUBMISSION_BYTES": _positive_int(env, "ATTACHMENT_SUBMISSION_MB", 200) * MIB,
        "MAX_FORM_MEMORY_SIZE": 1024 * 1024,
        "MAX_FORM_PARTS": 200,
        "RATELIMIT_ENABLED": _flag(env.get("RATELIMIT_ENABLED"), default=True),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI") or "memory://",
        "RATELIMIT_HEADERS_ENABLED": False,
        "RATELIMIT_SUBMIT": env.get("RATELIMIT_SUBMIT") or "10 per minute;100 per hour",
        "RATELIMIT_LOOKUP": env.get("RATELIMIT_LOOKUP") or "20 per minute;300 per hour",
        "RATELIMIT_LOGIN": env.get("RATELIMIT_LOGIN") or "10 per minute;60 per hour",
    }
    settings["SECRET_KEY"] = _secret(env, f"{kind.upper()}_SECRET_KEY", production)
    cost_name = env.get("KDF_COST") or "moderate"
    if cost_name not in KDF_COSTS or (production and cost_name == "testing"):
        raise ConfigurationError("KDF_COST must be moderate or interactive (testing is for the test suite only)")
    settings["KDF_COST"] = KDF_COSTS[cost_name]

    if kind == "reviewer":
        # The reviewer app is a tool for staff: its cookie never needs to follow a link from elsewhere.
        settings["SESSION_COOKIE_SAMESITE"] = "Strict"
        # Keys the audit trail's hash chain: without it a database thief cannot rewrite history.
        settings["AUDIT_KEY"] = _secret(env, "AUDIT_KEY", production).encode()
        settings["SESSION_IDLE_MINUTES"] = _positive_int(env, "SESSION_IDLE_MINUTES", 30)
        settings["SESSION_MAX_HOURS"] = _positive_int(env, "SESSION_MAX_HOURS", 8)
        # When ended cases are deleted (`cases purge`, the reviewer's retention page).
        settings["RETENTION_YEARS"] = _retention_years(env)
        # `backup create` encrypts to it; the private half stays offline. Optional: unset means no backups.
        settings["BACKUP_PUBLIC_KEY"] = _public_key(env, "BACKUP_PUBLIC_KEY")

    if kind == "citizen":
        settings["RECEIPT_PEPPER"] = _secret(env, "RECEIPT_PEPPER", production).encode()
        settings["INTAKE_PUBLIC_KEY"] = _public_key(env, "INTAKE_PUBLIC_KEY")
        if settings["INTAKE_PUBLIC_KEY"] is None:
            raise ConfigurationError(
                "INTAKE_PUBLIC_KEY is not set: create the intake key pair with "
                "`flask --app wsgi:reviewer keys init` and configure its public key"
            )

    return settings
