"""Accessibility (issue 5): every page state of both apps, reached by really using them, passes axe-core
with no serious or critical violation at phone and desktop sizes; pages reflow at 320 px and at 200% zoom;
the skip link, the page language, focus and form labels are checked explicitly as well.

axe-core is injected from node_modules (never fetched): the contexts that run it (and measure layout)
bypass the app's CSP and turn JavaScript on. The data the pages show is made in one module fixture, as
people would make it, with JavaScript off: a report with a file sent through the form, accounts added by
the admin (one of them set up through the first-login page), a message each way with a file.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import AXE, DESKTOP, PHONE, NewPage, Portal
from tests.reviewer_helpers import Person, clear_of_a_step_change

pytestmark = pytest.mark.slow

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
NARROW = {"width": 320, "height": 640}
ZOOMED = {"width": 640, "height": 450}  # a 1280×900 window at 200% zoom, in CSS pixels
MARKER = "Kiểm thử trợ năng"  # written into the report, to find its case again among others'
PASSWORD = "a long enough password for the a11y lead"

SUBMIT_REPORT = ".submit-row button[type=submit]"
SUBMIT_LOOKUP = ".lookup-form button[type=submit]"
SUBMIT_MESSAGE = "form[action$='/status/message'] button[type=submit]"
SUBMIT_LOGIN = "form[action$='/login'] button[type=submit]"
TEXT_FILE = {"name": "bien-ban-hop.txt", "mimeType": "text/plain", "buffer": "Biên bản họp, bản chụp.\n".encode()}


# --- axe ---------------------------------------------------------------------------------------------


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed at {AXE} (npm install in the project): accessibility checks skipped")
    page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
            const results = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
            return results.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => ({id: v.id, impact: v.impact, help: v.help,
                            targets: v.nodes.map(n => n.target.join(' ')),
                            summary: v.nodes.length ? v.nodes[0].failureSummary : ''}));
        }""",
        AXE_TAGS,
    )
    return violations


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        lines.extend(f"    {target}" for target in violation["targets"][:8])
        if len(violation["targets"]) > 8:
            lines.append(f"    … and {len(violation['targets']) - 8} more")
        lines.append("    " + violation["summary"].replace("\n", "\n    "))
    return "\n".join(lines)


# --- the world the pages show: a report with a file, messages both ways, accounts ------------------


@dataclass(frozen=True)
class World:
    citizen: str
    reviewer: str
    receipt: str
    case_url: str
    sessions: dict[str, dict[str, Any]]  # browser storage states: "admin", "lead", "setup"


def file_report(page: Page, base: str, lang: str = "vi", files: list[dict[str, Any]] | None = None) -> str:
    """Send a report through the form; the receipt code shown."""
    page.goto(f"{base}/{lang}/report")
    page.check("input[name=report_type][value=PHAN_ANH]")
    page.fill("#narrative", f"{MARKER}: cán bộ tiếp dân phường nhận tiền để nhận hồ sơ trước, nhiều lần trong tháng.")
    page.check("input[name=misconduct][value=BRIBERY]")
    if files:
        page.set_input_files("#files", files)
    page.click(SUBMIT_REPORT)
    code = page.locator("#receipt-code")
    expect(code).to_be_visible()
    return code.inner_text().strip()


def look_up(page: Page, base: str, receipt: str, lang: str = "vi") -> None:
    page.goto(f"{base}/{lang}/status")
    page.fill("#receipt", receipt)
    page.click(SUBMIT_LOOKUP)
    expect(page.locator("#reply-title")).to_be_visible()


def log_in(page: Page, base: str, username: str, password: str, code: Callable[[int], str] | None) -> None:
    """Log in through the form. A code works once: if another test used this step's, try the next one, then wait."""
    attempts = [0, 1, 0] if code else [0]
    for number, offset in enumerate(attempts):
        if code:
            clear_of_a_step_change(margin=30 if number == 2 else 3)  # the third try waits for the next step
        page.goto(f"{base}/vi/login")
        page.fill("#username", username)
        page.fill("#password", password)
        if code:
            page.fill("#code", code(offset))
        page.click(SUBMIT_LOGIN)
        if not page.url.endswith("/login"):
            return
    raise AssertionError(f"{username} could not log in: {page.locator('.field-error').all_inner_texts()}")


def create_account(page: Page, base: str, username: str, role: str) -> str:
    """An admin adds an account through the form; its one-time password (the only secret the admin sees)."""
    page.goto(f"{base}/vi/admin/accounts")
    page.fill("#username", username)
    page.fill("#display_name", f"Thanh tra {username}")
    page.check(f"input[name=role][value={role}]")
    page.click("form.narrow button[type=submit]")
    secrets = page.locator("#created code.secret")
    expect(secrets).to_have_count(1)
    return secrets.nth(0).inner_text().strip()


def find_case(page: Page, base: str) -> str:
    """The URL of this module's case: the newest case in the queue (all its pages) whose report has the marker."""
    urls: set[str] = set()
    for number in range(1, 100):  # a page number past the last shows the last page again
        page.goto(f"{base}/vi/cases?report_type=PHAN_ANH&page={number}")
        found = {link.get_attribute("href") or "" for link in page.locator("table.data a[href*='/cases/']").all()}
        if found <= urls:
            break
        urls |= found
    for url in sorted(urls, key=lambda href: int(href.rsplit("/", 1)[1]), reverse=True):
        page.goto(base + url)
        if page.get_by_text(MARKER).count():
            return base + url
    raise AssertionError("the report filed through the citizen form is not in the queue")


@pytest.fixture(scope="module")
def world(portal: Portal, browser: Browser) -> Iterator[World]:
    contexts: list[BrowserContext] = []

    def fresh() -> Page:
        context = browser.new_context(java_script_enabled=False, viewport=DESKTOP, locale="vi-VN")
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    try:
        citizen = fresh()
        receipt = file_report(citizen, portal.citizen, files=[TEXT_FILE])

        admin = fresh()
        staff_admin: Person = portal.staff["admin"]
        log_in(admin, portal.reviewer, staff_admin.username, staff_admin.password, staff_admin.code)
        # Accounts of this module's own, so no other test's use of the demo staff can get in the way.
        lead_password = create_account(admin, portal.reviewer, "a11y-lead", "lead")
        setup_password = create_account(admin, portal.reviewer, "a11y-setup", "inspector")

        lead = fresh()
        log_in(lead, portal.reviewer, "a11y-lead", lead_password, None)
        expect(lead).to_have_url(re.compile(r"/vi/setup$"))
        lead_key = lead.locator("code.secret").inner_text().replace(" ", "")  # made at this first login
        lead.fill("#new_password", PASSWORD)
        lead.fill("#confirm", PASSWORD)
        lead.fill("#code", pyotp.TOTP(lead_key).now())
        lead.click("form[action$='/setup'] button[type=submit]")
        expect(lead).to_have_url(re.compile(r"/vi/cases$"))

        setup = fresh()
        log_in(setup, portal.reviewer, "a11y-setup", setup_password, None)
        expect(setup).to_have_url(re.compile(r"/vi/setup$"))

        # The inspectorate writes to the reporter with a file; the reporter answers with one.
        case_url = find_case(lead, portal.reviewer)
        lead.goto(case_url)
        lead.fill("#message textarea[name=text]", "Xin ông/bà cho biết thêm thời gian cụ thể và gửi kèm giấy hẹn.")
        lead.set_input_files("#message input[type=file]", [{**TEXT_FILE, "name": "giay-moi.txt"}])
        lead.click("#message button[type=submit]")
        expect(lead.locator(".notice[role=status]")).to_be_visible()

        look_up(citizen, portal.citizen, receipt)
        citizen.fill("#text", "Giấy hẹn gửi kèm; việc xảy ra sáng thứ Hai hằng tuần.")
        citizen.set_input_files("#files", [{**TEXT_FILE, "name": "giay-hen.txt"}])
        citizen.click(SUBMIT_MESSAGE)
        expect(citizen.locator(".notice.success")).to_be_visible()

        sessions = {
            "admin": admin.context.storage_state(),
            "lead": lead.context.storage_state(),
            "setup": setup.context.storage_state(),
        }
        yield World(portal.citizen, portal.reviewer, receipt, case_url, sessions)
    finally:
        for context in contexts:
            context.close()


# --- every page state of both apps --------------------------------------------------------------------

Reach = Callable[[Page, World], Any]
NEW_ACCOUNTS = itertools.count(1)


@dataclass(frozen=True)
class State:
    lang: str  # of the page: <html lang> must say it
    reach: Reach
    main: str  # a main control, which must stay in view at 320 px and at 200% zoom
    session: str | None = None  # whose login the page needs


def citizen_path(path: str, status: int = 200) -> Reach:
    def reach(page: Page, world: World) -> None:
        response = page.goto(world.citizen + path)
        assert response is not None and response.status == status

    return reach


def reviewer_path(path: str, status: int = 200) -> Reach:
    def reach(page: Page, world: World) -> None:
        response = page.goto(world.reviewer + path)
        assert response is not None and response.status == status, page.url

    return reach


def report_with_errors(lang: str, report_type: str | None) -> Reach:
    def reach(page: Page, world: World) -> None:
        page.goto(f"{world.citizen}/{lang}/report")
        if report_type:  # a report with a name: the name, a contact and the pledge become required
            page.check(f"input[name=report_type][value={report_type}]")
        page.click(SUBMIT_REPORT)
        expect(page.locator("#error-summary")).to_be_visible()

    return reach


def receipt_page(page: Page, world: World) -> None:
    file_report(page, world.citizen)


def lookup_with_error(page: Page, world: World) -> None:
    page.goto(f"{world.citizen}/vi/status")
    page.fill("#receipt", "ABCD-1234")
    page.click(SUBMIT_LOOKUP)
    expect(page.locator(".field-error")).to_be_visible()


def status_page(lang: str) -> Reach:
    def reach(page: Page, world: World) -> None:
        look_up(page, world.citizen, world.receipt, lang)
        expect(page.locator(".message")).to_have_count(2)
        page.click(".own-report summary")  # the report as sent, with its file

    return reach


def login_with_error(page: Page, world: World) -> None:
    page.goto(f"{world.reviewer}/vi/login")
    page.fill("#username", "khong-co-ai")
    page.fill("#password", "not the password")
    page.fill("#code", "000000")
    page.click(SUBMIT_LOGIN)
    expect(page.locator(".field-error")).to_be_visible()


def queue_filtered(page: Page, world: World) -> None:
    page.goto(f"{world.reviewer}/vi/cases")
    page.click(".filter-box > summary")  # folded while no filter is set
    page.select_option("#report_type", "PHAN_ANH")
    page.click(".filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"report_type=PHAN_ANH"))


def case_page(page: Page, world: World) -> None:
    page.goto(world.case_url)
    expect(page.locator(".timeline .entry-message")).to_have_count(2)
    for details in page.locator("details").all():  # steps and file hashes, opened as an inspector would
        details.locator("summary").click()


def case_with_error(page: Page, world: World) -> None:
    page.goto(world.case_url)
    page.click("#note button[type=submit]")
    expect(page.locator("#note .field-error")).to_be_visible()


def account_created(page: Page, world: World) -> None:
    """The one time an account's first password and key are shown (each visit adds one more account)."""
    create_account(page, world.reviewer, f"a11y-{next(NEW_ACCOUNTS)}", "inspector")


def submit_empty(path: str, button: str = "form button.primary") -> Reach:
    def reach(page: Page, world: World) -> None:
        page.goto(world.reviewer + path)
        page.click(button)
        expect(page.locator(".field-error").first).to_be_visible()

    return reach


STATES: dict[str, State] = {
    "citizen-landing": State("vi", citizen_path("/vi/"), ".hero .button.primary"),
    "citizen-report": State("vi", citizen_path("/vi/report"), SUBMIT_REPORT),
    "citizen-report-errors": State("vi", report_with_errors("vi", None), "#error-summary"),
    "citizen-receipt": State("vi", receipt_page, "#receipt-code"),
    "citizen-lookup": State("vi", citizen_path("/vi/status"), SUBMIT_LOOKUP),
    "citizen-lookup-error": State("vi", lookup_with_error, "#receipt"),
    "citizen-status": State("vi", status_page("vi"), SUBMIT_MESSAGE),
    "citizen-404": State("vi", citizen_path("/vi/khong-co-trang-nay", 404), ".error-page .button"),
    "citizen-en-landing": State("en", citizen_path("/en/"), ".hero .button.primary"),
    "citizen-en-report": State("en", citizen_path("/en/report"), SUBMIT_REPORT),
    "citizen-en-report-errors": State("en", report_with_errors("en", "TO_CAO"), "#error-summary"),
    "citizen-en-status": State("en", status_page("en"), SUBMIT_MESSAGE),
    "reviewer-login": State("vi", reviewer_path("/vi/login"), SUBMIT_LOGIN),
    "reviewer-login-error": State("vi", login_with_error, SUBMIT_LOGIN),
    "reviewer-en-login": State("en", reviewer_path("/en/login"), SUBMIT_LOGIN),
    "reviewer-setup": State("vi", reviewer_path("/vi/setup"), "form button.primary", "setup"),
    "reviewer-setup-errors": State("vi", submit_empty("/vi/setup"), "form button.primary", "setup"),
    "reviewer-queue": State("vi", reviewer_path("/vi/cases"), "table.data a", "lead"),
    "reviewer-queue-filtered": State("vi", queue_filtered, ".filters button[type=submit]", "lead"),
    "reviewer-en-queue": State("en", reviewer_path("/en/cases"), "table.data a", "lead"),
    "reviewer-case": State("vi", case_page, "#message button[type=submit]", "lead"),
    "reviewer-case-error": State("vi", case_with_error, "#note button[type=submit]", "lead"),
    "reviewer-statistics": State("vi", reviewer_path("/vi/statistics"), "#chart-month", "lead"),
    "reviewer-retention": State("vi", reviewer_path("/vi/retention"), "main h1", "lead"),
    "reviewer-password": State("vi", reviewer_path("/vi/account/password"), "form button.primary", "lead"),
    "reviewer-password-errors": State("vi", submit_empty("/vi/account/password"), "form button.primary", "lead"),
    "reviewer-accounts": State("vi", reviewer_path("/vi/admin/accounts"), "form.narrow button", "admin"),
    "reviewer-accounts-errors": State(
        "vi", submit_empty("/vi/admin/accounts", "form.narrow button"), "form.narrow button", "admin"
    ),
    "reviewer-account-created": State("vi", account_created, "#created code.secret", "admin"),
    "reviewer-audit": State("vi", reviewer_path("/vi/admin/audit"), ".filters button", "admin"),
    "reviewer-404": State("vi", reviewer_path("/vi/cases/99999999", 404), ".error-page .button", "lead"),
    "reviewer-403": State("vi", reviewer_path("/vi/cases", 403), ".error-page .button", "admin"),
}


def open_state(new_page: NewPage, world: World, name: str, viewport: dict[str, int], *, axe: bool = False) -> Page:
    state = STATES[name]
    options: dict[str, Any] = {"viewport": viewport}
    if state.session:
        options["storage_state"] = world.sessions[state.session]
    if axe:
        options.update(javascript=True, bypass_csp=True)
    page = new_page(**options)
    state.reach(page, world)
    return page


UNLABELED = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(el => el.type !== 'hidden' && el.getClientRects().length && !el.closest('[aria-hidden=true]'))
    .filter(el => {
        const byLabel = [...(el.labels || [])].some(label => label.textContent.trim());
        const byAria = (el.getAttribute('aria-label') || '').trim() || (el.getAttribute('aria-labelledby') || '')
            .split(/\\s+/).some(id => id && document.getElementById(id)?.textContent.trim());
        return !byLabel && !byAria;
    })
    .map(el => el.outerHTML.slice(0, 120))"""

# A label, a description or a link that points at an id the page holds twice goes to the first one only:
# axe reports this as "needs review" (duplicate-id-aria); here it fails.
AMBIGUOUS_IDS = """() => {
    const referenced = new Set();
    document.querySelectorAll('label[for]').forEach(label => referenced.add(label.htmlFor));
    document.querySelectorAll('[aria-describedby], [aria-labelledby], [aria-controls]').forEach(el =>
        ['aria-describedby', 'aria-labelledby', 'aria-controls'].forEach(name =>
            (el.getAttribute(name) || '').split(/\\s+/).forEach(id => id && referenced.add(id))));
    document.querySelectorAll('a[href^="#"]').forEach(link => link.hash.length > 1 && referenced.add(link.hash.slice(1)));
    return [...referenced].filter(id => document.querySelectorAll(`[id="${CSS.escape(id)}"]`).length !== 1);
}"""


ERRORS_TIED = """() => [...document.querySelectorAll('.field-error')].filter(error =>
    !error.id || !document.querySelector(`[aria-describedby~="${error.id}"]`)).map(error => error.textContent.trim())"""


def reflow_problems(page: Page, name: str) -> list[str]:
    """Nothing scrolls sideways at the current width, and the page's main control is in view."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    problems = []
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    if scroll_width > width:
        problems.append(f"the page scrolls sideways at {width} px: it is {scroll_width} px wide")
    main = page.locator(STATES[name].main).first
    box = main.bounding_box() if main.is_visible() else None
    if box is None or box["x"] < 0 or box["x"] + box["width"] > width:
        problems.append(f"{STATES[name].main} is not in view at {width} px: {box}")
    return problems


# Each page is checked at a phone's size, then narrowed to 320 px (WCAG 1.4.10), and at a desktop's
# size, then narrowed to 640×450: what a 1280×900 window shows at 200% zoom, in CSS pixels.
SIZES = {"phone-then-320px": (PHONE, NARROW), "desktop-then-200pc-zoom": (DESKTOP, ZOOMED)}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", STATES)
def test_page_is_accessible(new_page: NewPage, world: World, name: str, size: str) -> None:
    """No serious or critical axe-core violation; a label of its own for every control; the page reflows."""
    viewport, narrowed = SIZES[size]
    page = open_state(new_page, world, name, viewport, axe=True)
    problems = []
    lang = page.get_attribute("html", "lang")
    if lang != STATES[name].lang:
        problems.append(f'<html lang="{lang}">, expected "{STATES[name].lang}"')
    violations = serious_violations(page)
    if violations:
        problems.append(f"axe-core at {viewport['width']} px:\n{describe(violations)}")
    unlabeled = page.evaluate(UNLABELED)
    if unlabeled:
        problems.append(f"controls without a label of their own: {unlabeled}")
    ambiguous = page.evaluate(AMBIGUOUS_IDS)
    if ambiguous:
        problems.append(f"ids referenced by a label, ARIA or a link that are not unique: {ambiguous}")
    untied = page.evaluate(ERRORS_TIED)
    if untied:
        problems.append(f"errors not tied to their field by aria-describedby: {untied}")
    page.set_viewport_size(narrowed)
    problems.extend(reflow_problems(page, name))
    assert not problems, f"{name} ({page.url}):\n" + "\n".join(problems)


# --- explicit checks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "viewport"),
    [
        ("citizen-landing", PHONE),
        ("citizen-en-report", DESKTOP),
        ("reviewer-login", PHONE),
        ("reviewer-queue", DESKTOP),
    ],
    ids=["citizen-landing-phone", "citizen-en-report-desktop", "reviewer-login-phone", "reviewer-queue-desktop"],
)
def test_first_tab_focuses_a_visible_skip_link_to_main(
    new_page: NewPage, world: World, name: str, viewport: dict[str, int]
) -> None:
    page = open_state(new_page, world, name, viewport)  # JavaScript off: the link works without it
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    expect(focused).to_have_class(re.compile(r"\bskip-link\b"))
    expect(focused).to_be_in_viewport()
    expect(focused).to_have_css("outline-style", "solid")
    expect(focused).to_have_attribute("href", "#main")
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    expect(page).to_have_url(re.compile(r"#main$"))


@pytest.mark.parametrize("name", ["citizen-report", "citizen-en-report-errors"])
def test_every_report_field_has_a_name_and_its_errors(new_page: NewPage, world: World, name: str) -> None:
    page = open_state(new_page, world, name, PHONE, axe=True)
    assert page.evaluate(UNLABELED) == []
    assert page.evaluate(ERRORS_TIED) == []
    invalid = page.locator("[aria-invalid=true]")
    for field in invalid.all():
        assert re.search(r"-error\b", field.get_attribute("aria-describedby") or ""), field.get_attribute("id")
    if "errors" in name:  # a named denunciation without its name, contact or pledge, and without its text
        assert invalid.count() >= 3
        expect(page.locator("#error-summary a")).to_have_count(page.locator(".field-error").count())


@pytest.mark.parametrize("name", ["citizen-report", "reviewer-queue"])
def test_focus_is_visible_on_every_control(new_page: NewPage, world: World, name: str) -> None:
    page = open_state(new_page, world, name, DESKTOP, axe=True)
    seen: set[str] = set()
    for _ in range(100):
        page.keyboard.press("Tab")
        style = page.evaluate(
            """() => { const el = document.activeElement, s = getComputedStyle(el);
                return {tag: el.tagName, id: el.id || el.textContent.trim().slice(0, 30), outline: s.outlineStyle,
                        width: parseFloat(s.outlineWidth), shadow: s.boxShadow}; }"""
        )
        key = f"{style['tag']}#{style['id']}"
        if style["tag"] == "BODY" or key in seen:  # out of the page, or round again
            break
        seen.add(key)
        visible = (style["outline"] != "none" and style["width"] >= 2) or style["shadow"] != "none"
        assert visible, f"{name}: no visible focus on {style}"
    assert len(seen) > 10


def test_the_axe_helper_sees_a_planted_violation(new_page: NewPage, world: World) -> None:
    """A field without a label and faint text, added to a page: if the helper missed them, the checks above
    would prove nothing."""
    page = open_state(new_page, world, "citizen-lookup", PHONE, axe=True)
    page.evaluate(
        """() => document.querySelector('main').insertAdjacentHTML('beforeend',
            '<input type="text" name="planted"><p style="color: #c8c8c8">faint text</p>')"""
    )
    violations = serious_violations(page)
    assert {"label", "color-contrast"} <= {violation["id"] for violation in violations}
    assert 'input[name="planted"]' in describe(violations)
