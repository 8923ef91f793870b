"""Time-based one-time codes (RFC 6238) for inspector logins, via pyotp, and the enrolment QR code.

A code is accepted once only: the time step it matched is stored and any code for that step or an
earlier one is refused, so a code seen over a shoulder or replayed from a proxy is worthless. The
secret is kept encrypted under a key derived from the reviewer app's secret key, so neither a
database copy nor an admin can read it (SecureDrop's 2019 audit found 2FA secrets in clear).
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pyotp
import segno

from crypto.tokens import derive_key
from crypto.wrapping import unwrap_with_key, wrap_with_key

# One step either side of now, so a phone clock a little off still works.
VALID_WINDOW = 1
_SPACES = re.compile(r"[\s\-]")


def new_secret() -> str:
    return pyotp.random_base32()  # 32 base32 characters: 160 bits


def encrypt_secret(secret: str, app_secret_key: str) -> bytes:
    return wrap_with_key(secret.encode("ascii"), _key(app_secret_key))


def decrypt_secret(blob: bytes, app_secret_key: str) -> str:
    return unwrap_with_key(blob, _key(app_secret_key)).decode("ascii")


def accepted_step(secret: str, code: str, *, now: datetime, last_step: int | None) -> int | None:
    """The time step `code` is good for, if it is good now and newer than the last one used.

    A naive `now` is UTC, as stored in the database (pyotp would read it as local time).
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    code = _SPACES.sub("", code or "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue
        if pyotp.utils.strings_equal(code, totp.generate_otp(step)):
            return step
    return None


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def qr_png(uri: str) -> bytes:
    """A PNG, not SVG, so it shows in any browser with images allowed only from this origin."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="png", scale=6, border=4)
    return buffer.getvalue()


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing into an app by hand."""
    return " ".join(secret[index : index + 4] for index in range(0, len(secret), 4))


def _key(app_secret_key: str) -> bytes:
    return derive_key(app_secret_key, "totp-secrets")
