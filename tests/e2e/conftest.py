"""Both apps served for real (gunicorn on loopback, a temporary SQLite database, demo staff) and
driven by Debian's Chromium through Playwright.

Chromium is launched from /usr/bin/chromium with the flags that keep it from calling home;
Playwright's own browser download is never used. Without Chromium (or without axe-core for the
accessibility checks) these tests skip and say why.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright

from crypto.keys import generate_keypair, public_key_b64
from portal import create_reviewer_app
from portal.accounts import Role
from portal.migrate import upgrade
from tests.reviewer_helpers import Person, make_person, record_intake_key
from tests.servers import ROOT, gunicorn

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@dataclass(frozen=True)
class Portal:
    citizen: str  # base URL of the citizen portal
    reviewer: str  # base URL of the reviewer app
    staff: dict[str, Person]  # one enrolled account per role: "admin", "lead", "inspector"
    database_url: str
    env: dict[str, str]  # the apps' settings, for a test that needs the app in-process (e.g. a new account)


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    directory = tmp_path_factory.mktemp("e2e")
    database_url = f"sqlite:///{directory / 'portal.db'}"
    upgrade(database_url)
    keys = generate_keypair()
    env = {
        "PORTAL_ENV": "testing",
        "DATABASE_URL": database_url,
        "INTAKE_PUBLIC_KEY": public_key_b64(keys.public),
        "CITIZEN_SECRET_KEY": "citizen-secret-key-for-browser-tests-0123456789",
        "REVIEWER_SECRET_KEY": "reviewer-secret-key-for-browser-tests-0123456789",
        "AUDIT_KEY": "audit-key-for-browser-tests-0123456789abcdefghij",
        "RECEIPT_PEPPER": "receipt-pepper-for-browser-tests-0123456789abcd",
        "COOKIE_SECURE": "false",  # plain http on loopback
        "KDF_COST": "testing",
        "RATELIMIT_ENABLED": "false",
    }
    app = create_reviewer_app(env)
    record_intake_key(app, keys)
    staff = {role.value: make_person(app, keys, f"demo-{role.value}", role) for role in Role}
    app.extensions["portal_db"].dispose()
    with (
        gunicorn("citizen", env, directory / "citizen.log") as citizen,
        gunicorn("reviewer", env, directory / "reviewer.log") as reviewer,
    ):
        yield Portal(citizen, reviewer, staff, database_url, env)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed (apt-get install chromium needs root): browser tests skipped")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


NewPage = Callable[..., Page]


@pytest.fixture
def new_page(browser: Browser) -> Iterator[NewPage]:
    """A page in a fresh browser profile: JavaScript off unless asked (as in Tor Browser's Safest level),
    phone-sized unless given a viewport, asking for Vietnamese unless given another language."""
    contexts = []

    def make(
        *, javascript: bool = False, viewport: dict[str, int] = PHONE, locale: str = "vi-VN", **options: Any
    ) -> Page:
        context = browser.new_context(java_script_enabled=javascript, viewport=viewport, locale=locale, **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def screenshot(page: Page, name: str) -> None:
    """Save a full-page screenshot into docs/screenshots, where the README shows it: reduced to 256
    colours (the pages use a handful), which keeps each image a few times smaller in the repository."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(page.screenshot(full_page=True)))
    image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
        SCREENSHOTS / f"{name}.png", optimize=True
    )
