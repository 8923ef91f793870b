"""The reviewer app in a real browser, with the citizen portal on the other side of each case: an inspector logs in
with a one-time code, triages and asks the reporter a question, the reporter answers with the receipt, files travel
both ways byte for byte, a lead exports a case, the login works with the keyboard alone, and the pages are
photographed for the README.

Neither app uses any script (no <script> in templates/, no JavaScript in static/), so every page here runs with
JavaScript off, as in Tor Browser's Safest level. The portal is shared by the whole session and other tests file
cases too: a case is found by what its report says, never by its id.
"""

from __future__ import annotations

import io
import re
import secrets
import time
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from babel.support import Translations
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import DESKTOP, PHONE, NewPage, Portal, screenshot
from tests.helpers import CSRF_PATTERN, RECEIPT_PATTERN
from tests.reviewer_helpers import Person
from tests.servers import ROOT

StorageState = dict[str, Any]
# A ZIP header makes the bytes look like an office file: never "cleaned" of metadata, so they must arrive unchanged.
EVIDENCE = b"PK\x03\x04" + secrets.token_bytes(200_000)  # several 64 KiB chunks
EVIDENCE_NAME = "sao kê tháng 3.xlsx"


@cache
def _catalog() -> Translations:
    return Translations.load(str(ROOT / "portal" / "translations"), ["vi"])


def vi(message: str) -> str:
    """What the Vietnamese pages say for an English message id, so assertions follow the catalog's wording."""
    return _catalog().gettext(message)


def contract_number() -> str:
    """A document number for a report's text: realistic, and unique enough to find the case again among all others."""
    return f"{secrets.randbelow(9000) + 1000}/2026/HĐ"


# --- The citizen side ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    narrative: str
    ward: str  # a ward code (config/data/hanoi_wards_2025.csv)
    report_type: str = "THONG_TIN_TO_CAO"
    misconduct: tuple[str, ...] = ("BRIBERY",)
    sector: str = "LAND"
    ongoing: str = "YES"
    extra: dict[str, str] = field(default_factory=dict)  # more fields (post_report only), e.g. an identity


def send_report(page: Page, portal: Portal, report: Report, files: list[dict[str, Any]] | None = None) -> str:
    """Fill in and send the report form as a person would; returns the receipt code shown once."""
    page.goto(f"{portal.citizen}/vi/report")
    page.locator(f'input[name="report_type"][value="{report.report_type}"]').check()
    page.locator("#narrative").fill(report.narrative)
    for code in report.misconduct:
        page.locator(f'input[name="misconduct"][value="{code}"]').check()
    page.locator("#sector").select_option(report.sector)
    page.locator(f'input[name="ongoing"][value="{report.ongoing}"]').check()
    page.locator("#ward").select_option(report.ward)
    if files:
        page.locator("#files").set_input_files(files)
    page.get_by_role("button", name=vi("Send the report")).click()
    receipt = page.locator("#receipt-code")
    expect(receipt).to_be_visible()
    return receipt.inner_text().strip()


def post_report(page: Page, portal: Portal, report: Report) -> str:
    """Send a report by HTTP from the page's browser context (its cookies, its CSRF token): quicker than the form,
    for cases that only need to exist."""
    form = page.request.get(f"{portal.citizen}/vi/report").text()
    token = CSRF_PATTERN.search(form)
    assert token, "no CSRF token on the report form"
    data = {
        "csrf_token": token.group(1),
        "report_type": report.report_type,
        "narrative": report.narrative,
        "misconduct": list(report.misconduct),
        "sector": report.sector,
        "ward": report.ward,
        "ongoing": report.ongoing,
        **report.extra,
    }
    response = page.request.post(
        f"{portal.citizen}/vi/report",
        data=urlencode(data, doseq=True),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 201, response.text()[:2000]
    receipt = RECEIPT_PATTERN.search(response.text())
    assert receipt
    return receipt.group(1)


def open_status(page: Page, portal: Portal, receipt: str) -> None:
    """The reporter's "Follow my report": type the receipt, see the case."""
    page.goto(f"{portal.citizen}/vi/status")
    page.get_by_label(vi("Receipt code")).fill(receipt)
    page.get_by_role("button", name=vi("Show my report")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(vi("Your report"))


# --- The reviewer side --------------------------------------------------------------------------------------------

_last_step: dict[str, int] = {}


def fresh_code(person: Person) -> str:
    """A one-time code for a time step not used yet by this module: the current one, or the next one (the server
    accepts one step of clock drift) when a second login of the same person falls within the same 30 seconds."""
    now = int(time.time() // 30)
    step = max(now, _last_step.get(person.username, now - 1) + 1)
    _last_step[person.username] = step
    return person.code(step - now)


def log_in(page: Page, portal: Portal, person: Person) -> None:
    """Log in through the form. A second try with the next code covers a login by another test module (the portal
    is shared by the session) that already used this person's current code."""
    for _attempt in range(2):
        page.goto(f"{portal.reviewer}/vi/login")
        page.get_by_label(vi("User name")).fill(person.username)
        page.get_by_label(vi("Password")).fill(person.password)
        page.get_by_label(vi("Six-digit code from your authenticator app")).fill(fresh_code(person))
        page.get_by_role("button", name=vi("Log in")).click()
        if logged_in(page):
            return
    pytest.fail(f"{person.username} could not log in: {page.locator('.field-error').all_inner_texts()}")


def logged_in(page: Page) -> bool:
    """After the login form was sent: True on a page for a logged-in person, False when the form came back."""
    answer = page.locator(".whoami, .field-error").first
    answer.wait_for()
    return answer.evaluate("element => element.matches('.whoami')")


@pytest.fixture(scope="module")
def sessions() -> dict[str, StorageState]:
    """Each person's cookies after their first login here: a TOTP code works once, so logging in again and again
    would soon run out of codes."""
    return {}


def reviewer_page(
    new_page: NewPage, portal: Portal, sessions: dict[str, StorageState], role: str, viewport: dict[str, int] = DESKTOP
) -> Page:
    """A page of the reviewer app (JavaScript off) logged in as the person with this role."""
    state = sessions.get(role)
    page = new_page(viewport=viewport, storage_state=state) if state else new_page(viewport=viewport)
    if state is None:
        log_in(page, portal, portal.staff[role])
        sessions[role] = page.context.storage_state()
    return page


def open_new_case_holding(page: Page, portal: Portal, text: str, report_type: str = "THONG_TIN_TO_CAO") -> str:
    """Open the newly received case whose report contains `text`; returns its reference.

    Only the kind of report is stored in clear at intake (sector, ward and the rest stay sealed until someone
    classifies the case), and the queue shows references only. Cases received the same day are listed oldest
    first, so the newest is at the end of the last page (a page number past the end shows the last page): the
    candidates there are opened from the end until one holds the text."""
    query = urlencode({"states": "RECEIVED", "report_type": report_type, "page": 9999})
    page.goto(f"{portal.reviewer}/vi/cases?{query}")
    links = page.locator("table.data tbody a")
    candidates = [(link.inner_text(), link.get_attribute("href")) for link in links.all()]
    for reference, href in reversed(candidates):
        page.goto(f"{portal.reviewer}{href}")
        if page.locator(".report-rows").get_by_text(text).count():
            return reference
    pytest.fail(f"no newly received case holds {text!r}")


def saved(page: Page) -> None:
    expect(page.locator(".notice[role=status]")).to_contain_text(vi("Saved."))


def take_step(page: Page, step_label: str, text: str | None = None) -> None:
    """Open a step of the "Next step" box, give its text if it needs one, and confirm."""
    step = page.locator("details.step").filter(has=page.locator("summary", has_text=vi(step_label)))
    step.locator("summary").click()
    if text is not None:
        step.get_by_label(vi("Reason or text")).fill(text)
    step.get_by_role("button", name=vi("Confirm")).click()
    saved(page)


def classify(page: Page, sector: str, categories: list[str], urgent: bool = True) -> None:
    """Save the classification box with a sector, kinds of wrongdoing (English labels) and the urgent flag."""
    box = page.locator("#classification")
    box.get_by_label(vi("Sector")).select_option(sector)
    for category in categories:
        box.get_by_label(vi(category), exact=True).check()
    box.get_by_label(vi("Urgent (still going on, or a risk of harm)")).set_checked(urgent)
    box.get_by_role("button", name=vi("Save the classification")).click()
    saved(page)


def download(page: Page, button: Locator, tmp_path: Path) -> tuple[str, bytes]:
    """Press a download button (a POST form) and return the file's suggested name and bytes."""
    with page.expect_download() as event:
        button.click()
    file = event.value
    target = tmp_path / secrets.token_hex(4)
    file.save_as(target)
    return file.suggested_filename, target.read_bytes()


def state_shown(page: Page) -> Locator:
    return page.locator(".case-summary .facts dd").first


# --- Tests --------------------------------------------------------------------------------------------------------

QUESTION = "Ông/bà có thể cho biết số hiệu hợp đồng và ngày ký không? Ai đã nhận tiền trực tiếp?"
ANSWER = "Hợp đồng ký ngày 3 tháng 3 năm 2026; người nhận tiền là phó trưởng phòng, tại trụ sở phường."


def test_an_inspector_logs_in_with_a_code_asks_a_question_and_sees_the_reporters_answer(
    new_page: NewPage, portal: Portal, sessions: dict[str, StorageState]
) -> None:
    """The whole round trip a case needs when a report is too thin: the question reaches the reporter, who has only
    the receipt, and the answer comes back into the same case and restarts its clock."""
    number = contract_number()
    reporter = new_page()  # a phone, JavaScript off
    receipt = send_report(
        reporter,
        portal,
        Report(
            f"Cán bộ địa chính phường Hoàn Kiếm đòi 40 triệu đồng để ký hợp đồng số {number} giao đất dịch vụ.",
            ward="00070",
            misconduct=("BRIBERY", "ABUSE_OF_POSITION"),
        ),
    )

    inspector = new_page(viewport=DESKTOP)
    log_in(inspector, portal, portal.staff["inspector"])
    expect(inspector.get_by_role("heading", level=1)).to_contain_text(vi("Cases"))
    expect(inspector.locator(".whoami")).to_contain_text("Thanh tra demo-inspector")
    sessions["inspector"] = inspector.context.storage_state()

    reference = open_new_case_holding(inspector, portal, number)
    expect(inspector.get_by_role("heading", level=1)).to_have_text(f"{vi('Case')} {reference}")
    classify(inspector, "LAND", ["Embezzlement, appropriation of public assets"])
    take_step(inspector, "Move to triage")
    expect(state_shown(inspector)).to_contain_text(vi("Classification and initial handling"))
    take_step(inspector, "Ask the reporter for more information", QUESTION)
    expect(state_shown(inspector)).to_contain_text(vi("More information requested"))

    open_status(reporter, portal, receipt)
    expect(reporter.locator(".status-label")).to_have_text(vi("The inspectors ask you for more information"))
    question = reporter.locator(".messages li").filter(has_text=QUESTION)
    expect(question.locator(".message-meta")).to_contain_text(vi("The inspectorate"))
    expect(reporter.locator("main")).not_to_contain_text("demo-inspector")  # never an inspector's name
    reporter.get_by_label(vi("Your message or additional information")).fill(ANSWER)
    reporter.get_by_role("button", name=vi("Send"), exact=True).click()
    expect(reporter.locator(".notice.success")).to_have_text(vi("Your message was sealed and sent to the inspectors."))
    expect(reporter.locator(".messages")).to_contain_text(ANSWER)

    inspector.reload()
    answer = inspector.locator(".timeline li").filter(has_text=ANSWER)
    expect(answer).to_contain_text(vi("Message from the reporter"))
    expect(inspector.locator(".timeline")).to_contain_text(vi("after new information from the reporter"))
    expect(state_shown(inspector)).to_contain_text(vi("Classification and initial handling"))


def test_a_file_goes_from_the_reporter_to_the_inspector_and_another_comes_back_byte_exact(
    new_page: NewPage, portal: Portal, sessions: dict[str, StorageState], tmp_path: Path
) -> None:
    """Evidence is sealed on arrival and decrypted only as it is downloaded: what each side gets must be exactly
    what the other sent, file name included."""
    number = contract_number()
    reporter = new_page()
    receipt = send_report(
        reporter,
        portal,
        Report(f"Sao kê cho thấy khoản chi khống theo hợp đồng {number} của Ban quản lý dự án.", ward="00166"),
        files=[{"name": EVIDENCE_NAME, "mimeType": "application/octet-stream", "buffer": EVIDENCE}],
    )

    inspector = reviewer_page(new_page, portal, sessions, "inspector")
    open_new_case_holding(inspector, portal, number)
    files = inspector.locator(".files").first
    expect(files.locator(".file-name")).to_have_text(EVIDENCE_NAME)
    name, content = download(inspector, files.get_by_role("button", name=f"{vi('Download')} {EVIDENCE_NAME}"), tmp_path)
    assert (name, content) == (EVIDENCE_NAME, EVIDENCE)

    form_to_fill = "Mẫu đơn bổ sung thông tin\nHọ và tên (không bắt buộc): ...\nNội dung bổ sung: ...\n".encode()
    message = inspector.locator("#message")
    message.get_by_label(vi("Message to the reporter")).fill("Đề nghị ông/bà điền vào mẫu đơn gửi kèm.")
    message.get_by_label(vi("Files (optional)")).set_input_files(
        [{"name": "mẫu đơn.txt", "mimeType": "text/plain", "buffer": form_to_fill}]
    )
    message.get_by_role("button", name=vi("Send to the reporter")).click()
    saved(inspector)
    expect(inspector.locator(".timeline .file-name")).to_have_text("mẫu đơn.txt")

    open_status(reporter, portal, receipt)
    sent = reporter.locator(".messages li").filter(has_text="mẫu đơn gửi kèm")
    button = sent.get_by_role("button", name=f"{vi('Download')} mẫu đơn.txt")
    assert download(reporter, button, tmp_path) == ("mẫu đơn.txt", form_to_fill)


def test_a_lead_exports_a_case_as_a_zip_that_holds_the_reporters_file(
    new_page: NewPage, portal: Portal, sessions: dict[str, StorageState], tmp_path: Path
) -> None:
    """A case handed over to another body leaves as one archive: the readable case and its evidence, intact."""
    number = contract_number()
    reporter = new_page()
    send_report(
        reporter,
        portal,
        Report(f"Gói thầu {number} cải tạo vỉa hè được chia nhỏ để chỉ định thầu.", ward="00235", sector="PROCUREMENT"),
        files=[{"name": EVIDENCE_NAME, "mimeType": "application/octet-stream", "buffer": EVIDENCE}],
    )
    lead = reviewer_page(new_page, portal, sessions, "lead")
    reference = open_new_case_holding(lead, portal, number)
    export = lead.get_by_role("button", name=vi("Export the whole case as a ZIP for handover"))
    name, content = download(lead, export, tmp_path)
    assert name == f"{reference}.zip"
    archive = zipfile.ZipFile(io.BytesIO(content))
    assert archive.testzip() is None
    assert archive.namelist() == [f"{reference}.txt", f"files/001-{EVIDENCE_NAME}"]
    assert archive.read(f"files/001-{EVIDENCE_NAME}") == EVIDENCE
    assert number in archive.read(f"{reference}.txt").decode()


def focus_ring(control: Locator) -> str:
    """The outline or box shadow the focused control is drawn with, or "" when it has none."""
    return control.evaluate(
        """element => {
            const style = getComputedStyle(element);
            const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
            return [outline ? style.outline : "", style.boxShadow === "none" ? "" : style.boxShadow].join(" ").trim();
        }"""
    )


def tab_to(page: Page, control: Locator, most: int = 15) -> None:
    """Press Tab until `control` has the focus, as someone without a mouse would."""
    for _press in range(most):
        page.keyboard.press("Tab")
        if control.evaluate("element => element === document.activeElement"):
            return
    pytest.fail(f"{control} was not reached with {most} presses of Tab")


def log_in_with_the_keyboard(page: Page, person: Person) -> bool:
    """From a fresh login page: Tab to each field, type, Tab to the button, Enter; every stop must be outlined.
    Returns whether the login went through (it does not when another module already used the current code)."""
    fields = [
        (page.get_by_label(vi("User name")), person.username),
        (page.get_by_label(vi("Password")), person.password),
        (page.get_by_label(vi("Six-digit code from your authenticator app")), fresh_code(person)),
    ]
    tab_to(page, fields[0][0])
    for number, (control, text) in enumerate(fields):
        if number:
            page.keyboard.press("Tab")
        expect(control).to_be_focused()
        assert focus_ring(control), "the focused field has no visible outline"
        page.keyboard.type(text)
    page.keyboard.press("Tab")
    button = page.get_by_role("button", name=vi("Log in"))
    expect(button).to_be_focused()
    assert focus_ring(button), "the focused button has no visible outline"
    page.keyboard.press("Enter")
    return logged_in(page)


def test_the_login_works_with_the_keyboard_alone_and_the_focused_control_is_outlined(
    new_page: NewPage, portal: Portal, sessions: dict[str, StorageState]
) -> None:
    """Inspectors who cannot use a mouse must log in too, and see at every moment where the keyboard is."""
    admin = portal.staff["admin"]
    page = new_page(viewport=DESKTOP)
    page.goto(f"{portal.reviewer}/vi/login")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name=vi("Skip to main content"))
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    assert focus_ring(skip), "the skip link has no visible outline"

    if not log_in_with_the_keyboard(page, admin):
        page.goto(f"{portal.reviewer}/vi/login")
        assert log_in_with_the_keyboard(page, admin), page.locator(".field-error").all_inner_texts()

    expect(page).to_have_url(re.compile(r"/vi/admin/accounts$"))  # an administrator's home
    expect(page.locator(".whoami")).to_contain_text("Thanh tra demo-admin")
    sessions["admin"] = page.context.storage_state()


def test_the_case_page_switches_to_english_with_the_language_link(
    new_page: NewPage, portal: Portal, sessions: dict[str, StorageState]
) -> None:
    """Some inspectors read English better; the link keeps them on the same case."""
    number = contract_number()
    report = Report(f"Thu phí sai quy định theo biên bản {number} tại bộ phận một cửa.", ward="00226")
    post_report(new_page(), portal, report)
    page = reviewer_page(new_page, portal, sessions, "inspector")
    reference = open_new_case_holding(page, portal, number)
    case_url = page.url

    page.get_by_role("link", name="English").click()
    expect(page).to_have_url(case_url.replace("/vi/", "/en/"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {reference}")
    expect(page.get_by_role("heading", name="The report", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Timeline and messages", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Send to the reporter")).to_be_visible()
    expect(page.get_by_role("link", name="Tiếng Việt")).to_be_visible()
    expect(page.locator("main")).to_contain_text(number)  # the report itself is shown as written


# Realistic reports, so the README's pictures show a working queue rather than test data.
SHOWCASE = [
    Report(
        "Cán bộ địa chính phường Hoàng Mai yêu cầu nộp thêm 30 triệu đồng “chi phí bôi trơn” để được cấp giấy "
        "chứng nhận quyền sử dụng đất, dù hồ sơ đã đầy đủ từ tháng 1/2026. Tôi có ghi âm cuộc nói chuyện.",
        ward="00331",
        misconduct=("BRIBERY", "HARASSMENT"),
        sector="LAND",
        extra={"protection_requested": "y", "retaliation_risk": "HIGH"},
    ),
    Report(
        "Khoa Dược bệnh viện quận cũ kê khống vật tư y tế trong các năm 2024–2025: số găng tay và bông băng "
        "nhập kho gấp ba lần số thực dùng; chênh lệch được chia cho một nhóm cán bộ.",
        ward="00292",
        report_type="TO_CAO",
        misconduct=("EMBEZZLEMENT", "GROUP_INTERESTS"),
        sector="HEALTH",
        ongoing="NO",
        extra={"full_name": "Nguyễn Thị Lan", "contact": "0912 345 678", "truthful": "y"},
    ),
    Report(
        "Tại trạm đăng kiểm xe cơ giới trên đường Phạm Văn Đồng, nhân viên gợi ý “phí ngoài” 2 triệu đồng để xe "
        "đạt kiểm định mà không cần sửa đèn. Việc này diễn ra nhiều tuần nay.",
        ward="00160",
        report_type="PHAN_ANH",
        misconduct=("HARASSMENT",),
        sector="TRANSPORT",
    ),
    Report(
        "Kỳ tuyển dụng giáo viên tiểu học năm 2025 của phường: ba trong bốn người trúng tuyển là người nhà cán bộ "
        "phòng văn hóa – xã hội; đề nghị kiểm tra lại quy trình chấm phỏng vấn.",
        ward="00367",
        report_type="KIEN_NGHI",
        misconduct=("PERSONNEL",),
        sector="EDUCATION",
        ongoing="NO",
    ),
    Report(
        "Các gói thầu cải tạo vỉa hè trên địa bàn phường Long Biên năm 2025 đều do cùng hai công ty luân phiên "
        "trúng thầu, giá trúng thầu sát giá gói thầu; đá lát đã hỏng sau sáu tháng.",
        ward="00145",
        misconduct=("GROUP_INTERESTS", "WASTE"),
        sector="PROCUREMENT",
    ),
]


def no_script(page: Page) -> None:
    expect(page.locator("script")).to_have_count(0)


def photograph(page: Page, name: str) -> None:
    """Save the page at phone and at desktop width (reviewer-<name>-phone.png, reviewer-<name>-desktop.png)."""
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        screenshot(page, f"reviewer-{name}-{size}")


def test_the_queue_a_case_and_the_statistics_read_well_on_a_phone_and_a_desktop(
    new_page: NewPage, portal: Portal, sessions: dict[str, StorageState]
) -> None:
    """The pictures in the README: a lead's queue with real-looking cases, one case part-way through triage, and the
    statistics. Each page is also checked to run without any script."""
    citizen = new_page()
    receipts = [post_report(citizen, portal, report) for report in SHOWCASE]
    assert len(set(receipts)) == len(SHOWCASE)

    lead = reviewer_page(new_page, portal, sessions, "lead")
    lead.goto(f"{portal.reviewer}/vi/cases")
    assert lead.locator("table.data tbody tr").filter(has_text=vi("Received")).count() >= len(SHOWCASE)
    no_script(lead)

    first = SHOWCASE[0]
    open_new_case_holding(lead, portal, first.narrative[:60])
    classify(lead, "LAND", ["Bribery", "Harassment of citizens or businesses for gain"])
    take_step(lead, "Move to triage")
    assign = lead.locator("#assignment")
    assign.get_by_label(vi("Inspector in charge")).select_option(label="Thanh tra demo-inspector")
    assign.get_by_role("button", name=vi("Assign")).click()
    saved(lead)
    note = lead.locator("#note")
    note.get_by_role("textbox").fill("Đối chiếu với hồ sơ cấp giấy chứng nhận tại bộ phận một cửa trước khi thụ lý.")
    note.get_by_role("button", name=vi("Save the note")).click()
    saved(lead)
    lead.goto(lead.url.split("#")[0])  # the top of the page, without the notice
    no_script(lead)
    photograph(lead, "case")

    lead.goto(f"{portal.reviewer}/vi/cases")
    photograph(lead, "queue")

    lead.goto(f"{portal.reviewer}/vi/statistics")
    expect(lead.get_by_role("heading", level=1)).to_have_text(vi("Statistics"))
    expect(lead.locator(".chart")).not_to_have_count(0)
    no_script(lead)
    photograph(lead, "statistics")
