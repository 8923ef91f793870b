"""The citizen portal in a real browser, as a reporter uses it: JavaScript off (Tor Browser's Safest
level), on a phone and on a desktop, in Vietnamese or in English, with a keyboard only, with files
going up with the report and coming back down from the status page, and the receipt on paper.

The database is shared by the whole session, so every test files its own report and never counts rows.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import DESKTOP, PHONE, NewPage, Portal, screenshot

NARRATIVE = (
    "Ông Nguyễn Văn H., cán bộ địa chính UBND phường Ô Chợ Dừa, yêu cầu gia đình tôi và ít nhất ba hộ khác trên "
    "phố Xã Đàn nộp từ 30 đến 50 triệu đồng “tiền bồi dưỡng” để ký xác nhận hồ sơ cấp giấy chứng nhận quyền sử "
    "dụng đất. Tiền được đưa bằng tiền mặt tại quán cà phê đối diện trụ sở phường, không có biên lai. Hồ sơ của "
    "những hộ không nộp tiền bị trả lại nhiều lần với lý do “thiếu giấy tờ”."
)
TEXT_ANSWERS = {
    "money_involved": "Khoảng 30–50 triệu đồng mỗi hồ sơ, tổng cộng ít nhất 160 triệu đồng",
    "harm": "Các hộ không nộp tiền đã chờ hơn 8 tháng mà chưa được cấp giấy chứng nhận.",
    "subject_name": "Nguyễn Văn H.",
    "subject_position": "Công chức địa chính – xây dựng",
    "subject_agency": "UBND phường Ô Chợ Dừa",
    "period": "Từ tháng 3/2025 đến nay",
    "location": "Phố Xã Đàn, phường Ô Chợ Dừa, Hà Nội",
    "evidence": "Tin nhắn Zalo hẹn gặp và báo số tiền; giấy hẹn trả hồ sơ của UBND phường có chữ ký ông H.",
    "witnesses": "Hai hộ cùng ngõ cũng đã nộp tiền; họ sẵn sàng trình bày nếu được giữ bí mật.",
}
CHOSEN_OPTIONS = {"sector": "LAND", "subject_level": "WARD", "ward": "00190", "knowledge": "VICTIM"}
CHOSEN_RADIOS = {"ongoing": "YES", "reported_before": "NO", "retaliation_risk": "HIGH"}
MISCONDUCT = ("BRIBERY", "ABUSE_OF_POSITION")

REPORT_FILE = ("ghi chép các lần đưa tiền.txt", "12/3/2025: 30 triệu, quán cà phê số 5 Xã Đàn.\n".encode())
MESSAGE_TEXT = (
    "Bổ sung: ngày 12/6/2025 ông H. lại nhắn tin đòi thêm 10 triệu đồng mới trả hồ sơ. "
    "Tôi gửi kèm bảng kê các lần đưa tiền."
)
MESSAGE_FILE = ("bảng kê số tiền.csv", "Ngày,Số tiền (đồng),Nơi giao\n12/3/2025,30000000,Xã Đàn\n".encode())

SIZES = pytest.mark.parametrize("size, viewport", [("phone", PHONE), ("desktop", DESKTOP)], ids=["phone", "desktop"])


# Steps a reporter takes --------------------------------------------------------------------------


def open_landing(page: Page, portal: Portal) -> None:
    """The address a person types: the bare site, which picks the language."""
    page.goto(portal.citizen + "/")


def fill_report(page: Page, narrative: str = NARRATIVE, *, files: tuple[tuple[str, bytes], ...] = ()) -> None:
    """Answer the whole form (anonymous report, the default kind), with files if given."""
    page.locator("#narrative").fill(narrative)
    for code in MISCONDUCT:
        page.locator(f"input[name='misconduct'][value='{code}']").check()
    for name, text in TEXT_ANSWERS.items():
        page.locator(f"#{name}").fill(text)
    for name, value in CHOSEN_OPTIONS.items():
        page.locator(f"#{name}").select_option(value)
    for name, value in CHOSEN_RADIOS.items():
        page.locator(f"input[name='{name}'][value='{value}']").check()
    if files:
        page.locator("#files").set_input_files([as_payload(file) for file in files])


def as_payload(file: tuple[str, bytes]) -> dict[str, str | bytes]:
    name, content = file
    return {"name": name, "mimeType": "application/octet-stream", "buffer": content}


def send_report(page: Page) -> None:
    page.locator("form.report-form button[type='submit']").click()


def receipt_on(page: Page) -> str:
    """The code as the person reads it off the receipt page."""
    code = page.locator("#receipt-code")
    expect(code).to_have_text(re.compile(r"\w{4}(-\w{4}){4}"))
    return code.inner_text().strip()


def file_report(page: Page, portal: Portal, *, files: tuple[tuple[str, bytes], ...] = ()) -> str:
    page.goto(f"{portal.citizen}/vi/report")
    fill_report(page, files=files)
    send_report(page)
    return receipt_on(page)


def look_up(page: Page, receipt: str) -> None:
    """From the receipt page, follow the report with the code, as written down."""
    page.locator("main a[href$='/status']").click()
    page.locator("#receipt").fill(receipt)
    page.locator("form.lookup-form button[type='submit']").click()
    expect(page.locator(".status-card")).to_be_visible()


def send_message(page: Page, text: str, file: tuple[str, bytes]) -> None:
    reply = page.locator("form[action$='/status/message']")
    reply.locator("#text").fill(text)
    reply.locator("#files").set_input_files([as_payload(file)])
    reply.locator("button[type='submit']").click()
    expect(page.locator(".notice.success")).to_be_visible()


def download(page: Page, name: str) -> tuple[str, bytes]:
    """Press a file's download button; the name the browser would save it under, and its bytes."""
    with page.expect_download() as started:
        page.locator("form.file-download", has_text=name).locator("button").click()
    saved = started.value
    return saved.suggested_filename, Path(saved.path()).read_bytes()


def html_lang(page: Page) -> str | None:
    return page.locator("html").get_attribute("lang")


# Filing a report and following it ---------------------------------------------------------------


@SIZES
def test_a_report_sent_without_javascript_gives_a_receipt_that_opens_its_status(
    new_page: NewPage, portal: Portal, size: str, viewport: dict[str, int]
) -> None:
    """The core promise, on the screens people have: send, keep the code, come back with it."""
    page = new_page(viewport=viewport)
    open_landing(page, portal)
    expect(page.locator("h1")).to_be_visible()
    screenshot(page, f"citizen-landing-{size}")

    page.locator(".hero a[href$='/report']").click()
    fill_report(page, files=(REPORT_FILE,))
    screenshot(page, f"citizen-form-{size}")
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        send_report(page)
    assert posted.value.status == 201
    receipt = receipt_on(page)
    screenshot(page, f"citizen-receipt-{size}")

    look_up(page, receipt.lower().replace("-", " "))  # typed loosely: case, spaces and dashes do not matter
    expect(page.locator("h1")).to_have_text("Phản ánh, tố cáo của Ông/Bà")
    page.locator(".own-report summary").click()
    expect(page.locator(".report-rows")).to_contain_text(NARRATIVE)
    expect(page.locator(".report-rows")).to_contain_text("Phường Ô Chợ Dừa")
    send_message(page, MESSAGE_TEXT, MESSAGE_FILE)
    expect(page.locator(".message.reporter").last).to_contain_text(MESSAGE_TEXT)
    expect(page.locator(".message.reporter .file-name")).to_have_text(MESSAGE_FILE[0])
    screenshot(page, f"citizen-status-{size}")


def test_files_sent_with_the_report_and_a_message_download_byte_for_byte_from_the_status_page(
    new_page: NewPage, portal: Portal
) -> None:
    """Evidence must come back exactly as sent, under its own (Vietnamese) name, through a POST form."""
    page = new_page()
    receipt = file_report(page, portal, files=(REPORT_FILE,))
    look_up(page, receipt)
    send_message(page, MESSAGE_TEXT, MESSAGE_FILE)

    assert download(page, MESSAGE_FILE[0]) == MESSAGE_FILE
    page.locator(".own-report summary").click()
    assert download(page, REPORT_FILE[0]) == REPORT_FILE
    expect(page.locator("#receipt-code")).to_have_count(0)  # still the status page: a download is not a navigation
    assert receipt not in page.url


# Language ---------------------------------------------------------------------------------------


def test_the_site_opens_in_vietnamese_even_when_the_browser_asks_for_english(new_page: NewPage, portal: Portal) -> None:
    """Tor Browser asks for English everywhere: the inspectorate's own language must still come first."""
    page = new_page(locale="en-US")
    open_landing(page, portal)
    assert html_lang(page) == "vi"
    assert page.url.endswith("/vi/")
    expect(page.locator("h1")).to_contain_text("Phản ánh, tố cáo tham nhũng")
    expect(page.locator(".languages a[hreflang='en']")).to_have_text("English")


def test_english_chosen_once_stays_from_the_form_to_the_status_page(new_page: NewPage, portal: Portal) -> None:
    """The language travels in the address, so it survives a whole visit with no JavaScript and no cookie."""
    page = new_page()
    open_landing(page, portal)
    page.locator(".languages a[hreflang='en']").click()
    expect(page.locator("h1")).to_have_text("Report corruption and misconduct by officials, safely")
    assert html_lang(page) == "en"

    page.locator(".hero a[href$='/report']").click()
    expect(page.locator("h1")).to_have_text("Send a report")
    assert html_lang(page) == "en" and "/en/report" in page.url
    fill_report(page)
    send_report(page)
    receipt = receipt_on(page)
    expect(page.locator("h1")).to_have_text("Your report has been received")
    assert html_lang(page) == "en"

    page.locator("main a[href$='/status']").click()
    expect(page.locator("h1")).to_have_text("Follow my report")
    assert html_lang(page) == "en" and "/en/status" in page.url
    page.locator("#receipt").fill(receipt)
    page.locator("form.lookup-form button[type='submit']").click()
    expect(page.locator("h1")).to_have_text("Your report")
    assert html_lang(page) == "en"
    expect(page.locator(".status-label")).not_to_be_empty()
    page.locator(".own-report summary").click()
    rows = page.locator(".report-rows")
    expect(rows.locator("dt").first).to_have_text("What kind of report is this?")
    expect(rows).to_contain_text("Bribery; Abuse of position or power")
    expect(rows).to_contain_text("O Cho Dua Ward")


# Keyboard only ----------------------------------------------------------------------------------

# The browser's own thin ring ("auto") is hard to see on the dark blue header: the site's ring is required.
FOCUS_RING = """element => {
    const style = getComputedStyle(element);
    const outlined = !['none', 'auto'].includes(style.outlineStyle) && parseFloat(style.outlineWidth) >= 2;
    return outlined || style.boxShadow !== 'none';
}"""
IN_VIEW = """element => {
    const box = element.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && box.bottom > 0 && box.top < innerHeight && box.left < innerWidth;
}"""


def tab_to(page: Page, target: Locator, limit: int = 80) -> list[str]:
    """Press Tab until `target` has focus; every stop on the way must show where the focus is."""
    stops: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.locator(":focus")
        stop = focused.evaluate("e => e.outerHTML.slice(0, 80)")
        assert focused.evaluate(FOCUS_RING), f"no visible focus ring on {stop}"
        assert focused.evaluate(IN_VIEW), f"focused but off screen: {stop}"
        stops.append(stop)
        if target.evaluate("e => e === document.activeElement"):
            return stops
    raise AssertionError(f"{limit} presses of Tab never reached the target; went through {stops}")


def test_a_report_can_be_sent_and_followed_with_the_keyboard_alone(new_page: NewPage, portal: Portal) -> None:
    """People who cannot use a mouse must get through the form, see where they are, and get a receipt."""
    page = new_page(viewport=DESKTOP)
    page.goto(f"{portal.citizen}/vi/report")

    first = tab_to(page, page.locator(".skip-link"), limit=1)
    assert "skip-link" in first[0]
    tab_to(page, page.locator("#narrative"))
    page.keyboard.type(NARRATIVE)
    bribery = page.locator("input[name='misconduct'][value='BRIBERY']")
    tab_to(page, bribery)
    page.keyboard.press("Space")
    expect(bribery).to_be_checked()
    tab_to(page, page.locator("input[name='retaliation_risk']:checked"))
    page.keyboard.press("ArrowDown")  # within a radio group the arrows choose: "I do not know" → "Low"
    expect(page.locator("input[name='retaliation_risk'][value='LOW']")).to_be_checked()
    tab_to(page, page.locator("form.report-form button[type='submit']"))
    page.keyboard.press("Enter")

    receipt = receipt_on(page)
    tab_to(page, page.locator("main a[href$='/status']"))
    page.keyboard.press("Enter")
    page.wait_for_url("**/vi/status")
    tab_to(page, page.locator("#receipt"))
    page.keyboard.type(receipt)
    page.keyboard.press("Enter")
    expect(page.locator(".status-card")).to_be_visible()
    tab_to(page, page.locator(".own-report summary"))
    page.keyboard.press("Enter")
    expect(page.locator(".report-rows")).to_contain_text(NARRATIVE)
    expect(page.locator(".report-rows")).to_contain_text("Thấp")  # the risk chosen with the arrow key


# Mistakes ---------------------------------------------------------------------------------------


def test_a_too_short_description_comes_back_tied_to_its_field_with_every_answer_kept(
    new_page: NewPage, portal: Portal
) -> None:
    """A screen reader must announce the error on the field itself, and nobody should have to type twice."""
    page = new_page()
    page.goto(f"{portal.citizen}/vi/report")
    short = "Cán bộ phường nhận tiền."
    fill_report(page, short, files=(REPORT_FILE,))
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        send_report(page)
    assert posted.value.status == 400

    narrative = page.locator("#narrative")
    error = page.locator("#narrative-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("ít nhất 30 ký tự")
    expect(narrative).to_have_attribute("aria-invalid", "true")
    expect(narrative).to_have_attribute("aria-describedby", re.compile(r"(^|\s)narrative-error(\s|$)"))
    expect(page.locator("#error-summary a[href='#narrative']")).to_be_visible()

    expect(narrative).to_have_value(short)
    for name, text in TEXT_ANSWERS.items():
        expect(page.locator(f"#{name}")).to_have_value(text)
    for name, value in CHOSEN_OPTIONS.items():
        expect(page.locator(f"#{name}")).to_have_value(value)
    for name, value in CHOSEN_RADIOS.items():
        expect(page.locator(f"input[name='{name}'][value='{value}']")).to_be_checked()
    for code in MISCONDUCT:
        expect(page.locator(f"input[name='misconduct'][value='{code}']")).to_be_checked()
    # A browser cannot refill a file input: the person is told, next to it, to choose the files again.
    expect(page.locator("#files")).to_have_attribute("aria-describedby", re.compile(r"(^|\s)files-again(\s|$)"))
    expect(page.locator("#files-again")).to_be_visible()


# Paper ------------------------------------------------------------------------------------------


def test_the_printed_receipt_shows_the_code_and_leaves_out_the_site_navigation(
    new_page: NewPage, portal: Portal
) -> None:
    """Writing the code down on paper is the safest way to keep it; the print must hold what matters only."""
    page = new_page(viewport=DESKTOP)
    receipt = file_report(page, portal)
    expect(page.locator(".site-header")).to_be_visible()
    page.emulate_media(media="print")

    expect(page.locator("#receipt-code")).to_be_visible()
    expect(page.locator("#receipt-code")).to_have_text(receipt)
    expect(page.locator(".notice.warning")).to_be_visible()  # the advice on keeping it safe is printed too
    for chrome in (".site-header", ".site-footer", ".skip-link", "main .no-print"):
        for element in page.locator(chrome).all():
            expect(element).to_be_hidden()
    expect(page.locator("nav:visible")).to_have_count(0)
    expect(page.locator("main a:visible")).to_have_count(0)
