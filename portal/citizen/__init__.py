"""The citizen portal: landing page, report form, receipt, and the reporter's status page.

Views stay thin: forms validate, `portal.cases` files and finds, templates render. Nothing here
writes a receipt, an address or a user agent anywhere but into the response that shows it.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError

from crypto.errors import ReceiptFormatError
from portal import cases, reports
from portal.app import csrf
from portal.attachments import CannotClean
from portal.citizen.forms import LookupForm, MessageForm, ReceiptForm
from portal.db import get_db, request_session
from portal.downloads import file_response
from portal.errors import CSRF_MESSAGE, render_error
from portal.forms import cannot_clean_message
from portal.i18n import language_blueprint
from portal.lifecycle import REPORTER_LABELS
from portal.ratelimit import RouteLimit, RouteLimits, lookup_limit, submit_limit
from portal.uploads import accepts_files

bp = language_blueprint("citizen", __name__)

CHECK_THE_CODE = _l(
    "This code is not valid. Check it for a typing mistake: it has 20 letters and digits, as written on your receipt."
)
NOT_FOUND = _l("No report was found for this code. Check that you typed it exactly as written on your receipt.")
EXPIRED = _l("This page had expired for your safety. Nothing was lost: check your text and send it again.")

def _wrong_receipt(_response: Response) -> bool:
    """Whether this request tried a receipt that was mistyped or matched nothing (set by `_find`): a
    reporter's own mistakes in a message form never use up the budget, only wrong receipts do."""
    return bool(g.get("wrong_receipt", False))


# Every way of trying a receipt draws on one budget, and only wrong receipts use it up: guessing runs
# out, a reporter checking their case does not.
RATE_LIMITS: RouteLimits = {
    "citizen.report": RouteLimit(submit_limit, ["POST"]),
    "citizen.status": RouteLimit(lookup_limit, ["POST"], counts=_wrong_receipt, scope="receipt"),
    "citizen.message": RouteLimit(lookup_limit, counts=_wrong_receipt, scope="receipt"),
    "citizen.download": RouteLimit(lookup_limit, counts=_wrong_receipt, scope="receipt"),
}


def _intake() -> cases.Intake:
    return cases.Intake(current_app.config["INTAKE_PUBLIC_KEY"], current_app.config["RECEIPT_PEPPER"])


@bp.get("/")
def index() -> str:
    return render_template("citizen/index.html")


@bp.route("/report", methods=["GET", "POST"])
@accepts_files
def report() -> tuple[str, int]:
    form = reports.ReportForm()
    if not form.validate_on_submit():
        return _report_page(form, notice=None)
    identity = form.identity_document()
    try:
        receipt = cases.file_report(
            get_db(), _intake(), form.report_document(), identity, form.files.uploads, form.keep_original.data
        )
    except CannotClean as error:
        form.files.errors.append(cannot_clean_message(error))
        return _report_page(form, notice=None)
    page = render_template(
        "citizen/receipt.html",
        receipt=receipt,
        identified=identity is not None,
        complaint=form.report_type.data == "KHIEU_NAI",
    )
    return page, 201


def _report_page(form: reports.ReportForm, notice: Any) -> tuple[str, int]:
    status = 400 if request.method == "POST" else 200
    return render_template("citizen/report.html", form=form, notice=notice), status


@bp.route("/status", methods=["GET", "POST"])
def status() -> tuple[str, int]:
    form = LookupForm()
    if not form.validate_on_submit():
        return _lookup_page(form, 400 if form.errors else 200)
    found, error, code = _find(form.receipt.data)
    if found is None:
        form.receipt.errors = [error]
        return _lookup_page(form, code)
    return _status_page(found, MessageForm(formdata=None, receipt=found.receipt))


@bp.post("/status/message")
@accepts_files
@csrf.exempt
def message() -> tuple[str, int]:
    # The token is checked here, inside the rate-limited view, not before it: an expired form shows the
    # case again (so the typed message is kept), and that lookup must count against the limit like any other.
    csrf.protect()
    form = MessageForm()
    found, error, code = _find(form.receipt.data or "")
    if found is None:
        lookup = LookupForm(formdata=None)
        lookup.receipt.errors = [error]
        return _lookup_page(lookup, code)
    if not form.validate_on_submit():
        return _status_page(found, form, status=400)
    try:
        cases.add_reporter_message(get_db(), _intake(), found, form.text.data, form.files.uploads, form.keep_original.data)
    except CannotClean as error:
        form.files.errors.append(cannot_clean_message(error))
        return _status_page(found, form, status=400)
    found = found.reloaded(request_session())
    return _status_page(found, MessageForm(formdata=None, receipt=found.receipt), sent=True)


@bp.post("/status/files/<id:file_id>")
def download(file_id: int) -> Response | tuple[str, int]:
    """A file of the reporter's case, found with the receipt sent in the form (never in the address)."""
    form = ReceiptForm()
    found, error, code = _find(form.receipt.data or "")
    if found is None or not form.validate_on_submit():
        lookup = LookupForm(formdata=None)
        lookup.receipt.errors = [error or str(CHECK_THE_CODE)]
        return _lookup_page(lookup, code if found is None else 400)
    file = found.file(request_session(), file_id)
    if file is None:
        return render_error(404)
    return file_response(get_db(), *file)


def _find(receipt_text: str) -> tuple[cases.ReporterCase | None, str, int]:
    """The reporter's case, or None with what to tell them and the status code."""
    try:
        found = cases.find_by_receipt(request_session(), current_app.config["RECEIPT_PEPPER"], receipt_text)
    except ReceiptFormatError:
        g.wrong_receipt = True
        return None, str(CHECK_THE_CODE), 400
    if found is None:
        g.wrong_receipt = True
        return None, str(NOT_FOUND), 404
    return found, "", 200


def _lookup_page(form: LookupForm, status: int) -> tuple[str, int]:
    return render_template("citizen/status_lookup.html", form=form), status


def _status_page(
    found: cases.ReporterCase, form: MessageForm, status: int = 200, sent: bool = False
) -> tuple[str, int]:
    files = found.files_by_message(request_session())
    return (
        render_template(
            "citizen/status.html",
            case=found.case,
            state_label=REPORTER_LABELS[found.state],
            report_rows=reports.describe(found.report()),
            report_files=files.get(None, []),
            messages=found.messages(files),
            form=form,
            receipt_form=ReceiptForm(formdata=None, receipt=found.receipt),
            sent=sent,
        ),
        status,
    )


@bp.errorhandler(CSRFError)
def _expired(_error: CSRFError) -> tuple[str, int]:
    """An expired form must not cost a person what they typed: show it again, filled in."""
    if request.endpoint == "citizen.report":
        return _report_page(reports.ReportForm(), notice=EXPIRED)
    if request.endpoint == "citizen.message":
        form = MessageForm()
        found, _error, _code = _find(form.receipt.data or "")
        if found is not None:
            form.text.errors = [str(EXPIRED)]
            return _status_page(found, form, status=400)
    return render_error(400, *CSRF_MESSAGE)
