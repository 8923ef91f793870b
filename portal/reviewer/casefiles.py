"""The triage queue, the case page and every act on a case. Views only translate between HTTP and
`portal.casework`, where the rules live."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from wtforms.fields.choices import SelectChoice

from portal import accounts, casework, handover, lifecycle, reports, statistics, taxonomy, triage
from portal.accounts import Role
from portal.cases import clock_of
from portal.attachments import CannotClean
from portal.casework import CaseChanged, Classification, Move, NotAllowed, UnknownReference
from portal.db import get_db, request_session
from portal.downloads import content_disposition, file_response
from portal.forms import cannot_clean_message, row_id
from portal.lifecycle import DEADLINE_LABELS, REPORTER_LABELS, STEP_LABELS, Extension, State, TransitionError
from portal.models import Case
from portal.reviewer import bp
from portal.reviewer.access import allow, context, current_login
from portal.reviewer.forms import (
    AssignForm,
    ClassificationForm,
    MessageForm,
    NoteForm,
    RevealForm,
    TransitionForm,
)
from portal.uploads import accepts_files
from portal.workdays import today

CASE_ROLES = (Role.LEAD, Role.INSPECTOR)
FLAG_LABELS = {
    "urgent": _l("urgent"),
    "protection_requested": _l("protection requested"),
    "complex": _l("complex"),
    "especially_complex": _l("especially complex"),
    "duplicate": _l("duplicate"),
    "anonymous": _l("anonymous"),
}
CHANGED = _l("Someone else changed this case meanwhile. Nothing was saved: check the case and try again.")
SAVED = _l("Saved.")
NEEDS_TEXT = _l("This step needs a text.")
NEEDS_BODY = _l("Name the body the case goes to.")
NEEDS_EXTENSION = _l("Choose the kind of extension.")
NOT_A_CASE = _l("No other case has this reference.")
KEY_NOT_HELD = _l(
    "This case is sealed to a newer intake key than your login holds. Log out and log in again to receive it."
)
NOT_POSSIBLE = _l("This step is not possible for this case now (for example, no further extension is allowed).")


@bp.get("/cases")
@allow(*CASE_ROLES)
def queue() -> str:
    login = current_login()
    flt = triage.parse_filter(request.args)
    page = triage.parse_page(request.args)
    only_for = login.inspector.id if login.role == Role.INSPECTOR else None
    result = triage.queue(request_session(), flt, today=today(), page=page, only_for=only_for)
    return render_template(
        "reviewer/queue.html",
        result=result,
        flt=flt,
        today=today(),
        inspectors=accounts.active_inspectors(request_session()),
        **_vocabularies(),
    )


@bp.get("/cases/<id:case_id>")
@allow(*CASE_ROLES)
def case(case_id: int) -> Response | tuple[str, int]:
    return _case_page(case_id)


@bp.post("/cases/<id:case_id>/classify")
@allow(*CASE_ROLES)
def classify(case_id: int) -> Response | tuple[str, int]:
    form = ClassificationForm()

    def act() -> None:
        classification = Classification(
            report_type=form.report_type.data,
            categories=tuple(form.categories.data or ()),
            sector=form.sector.data or None,
            ward_code=form.ward_code.data or None,
            urgent=form.urgent.data,
            protection_requested=form.protection_requested.data,
            complex=form.complex.data,
            especially_complex=form.especially_complex.data,
            duplicate_of=form.duplicate_of.data or None,
        )
        try:
            casework.classify(context(), case_id, classification, form.expected_state.data)
        except UnknownReference:
            form.duplicate_of.errors = [str(NOT_A_CASE)]
            raise

    return _act(case_id, "classification", form, act)


@bp.post("/cases/<id:case_id>/assign")
@allow(Role.LEAD)
def assign(case_id: int) -> Response | tuple[str, int]:
    form = AssignForm()
    form.assignee.choices = _assignee_choices()
    assignee = row_id(form.assignee.data)
    return _act(
        case_id, "assignment", form, lambda: casework.assign(context(), case_id, assignee, form.expected_state.data)
    )


@bp.post("/cases/<id:case_id>/transition/<any(" + ", ".join(State) + "):target>")
@allow(*CASE_ROLES)
def transition(case_id: int, target: str) -> Response | tuple[str, int]:
    form = TransitionForm(prefix=target)
    forms = {target: form}

    def act() -> None:
        step = lifecycle.step_to(State(form.expected_state.data), State(target))
        missing = False
        if step.needs_reason and not form.text.data:
            form.text.errors = [str(NEEDS_TEXT)]
            missing = True
        if step.needs_body and not form.body.data:
            form.body.errors = [str(NEEDS_BODY)]
            missing = True
        if step.needs_extension and not form.extension.data:
            form.extension.errors = [str(NEEDS_EXTENSION)]
            missing = True
        if missing:
            raise TransitionError("incomplete")
        move = Move(
            State(target),
            text=form.text.data or "",
            body=form.body.data or "",
            extension=Extension(form.extension.data) if form.extension.data else None,
        )
        casework.transition(context(), case_id, move, form.expected_state.data)

    return _act(case_id, "transition", form, act, transition_forms=forms)


@bp.post("/cases/<id:case_id>/message")
@allow(*CASE_ROLES)
@accepts_files
def message(case_id: int) -> Response | tuple[str, int]:
    form = MessageForm()

    def act() -> None:
        try:
            casework.send_message(
                context(),
                case_id,
                form.text.data,
                form.expected_state.data,
                form.files.uploads,
                form.keep_original.data,
            )
        except CannotClean as error:
            form.files.errors.append(cannot_clean_message(error))
            raise

    return _act(case_id, "message", form, act)


@bp.post("/cases/<id:case_id>/files/<id:file_id>")
@allow(*CASE_ROLES)
def download(case_id: int, file_id: int) -> Response:
    """An evidence file, decrypted as it is sent; audited before the first byte."""
    try:
        row, info = casework.open_file(context(), request_session(), case_id, file_id, current_login().keyring.intake)
    except NotAllowed:
        abort(404)
    return file_response(get_db(), row, info)


@bp.post("/cases/<id:case_id>/export")
@allow(Role.LEAD)
def export(case_id: int) -> Response:
    try:
        opened, archive = handover.export_case(
            context(), request_session(), case_id, current_login().keyring.intake, _handover_texts
        )
    except NotAllowed:
        abort(404)
    response = Response(archive, mimetype="application/zip", direct_passthrough=True)
    response.headers["Content-Disposition"] = content_disposition(f"{opened.case.reference}.zip")
    return response


def _handover_texts(opened: casework.CaseFile) -> list[tuple[str, str]]:
    """The readable part of a handover archive, in the lead's language."""
    text = render_template(
        "reviewer/handover.txt",
        opened=opened,
        case=opened.case,
        report_rows=reports.describe(opened.report),
        exported_on=today(),
        quoted=handover.quoted,
        **_vocabularies(),
    )
    return [(f"{opened.case.reference}.txt", text)]


@bp.post("/cases/<id:case_id>/note")
@allow(*CASE_ROLES)
def note(case_id: int) -> Response | tuple[str, int]:
    form = NoteForm()
    return _act(
        case_id, "note", form, lambda: casework.add_note(context(), case_id, form.text.data, form.expected_state.data)
    )


@bp.post("/cases/<id:case_id>/reveal")
@allow(Role.LEAD)
def reveal(case_id: int) -> Response | tuple[str, int]:
    form = RevealForm()
    return _act(
        case_id,
        "reveal",
        form,
        lambda: casework.reveal_identity(context(), case_id, form.reason.data, form.expected_state.data),
    )


@bp.get("/statistics")
@allow(*Role)
def statistics_page() -> str:
    overview = statistics.overview(request_session(), today=today())
    names = _vocabularies()
    labels = {
        name.removesuffix("_names"): _label_for(table) for name, table in names.items() if name.endswith("_names")
    }
    return render_template("reviewer/statistics.html", stats=overview, labels=labels, month_label=_month_label)


def _label_for(names: dict[str, Any]) -> Callable[[str | None], Any]:
    return lambda code: names.get(code or "") or (code if code else _l("Not set"))


def _month_label(month: str) -> str:
    year, number = month.split("-")
    return f"{number}/{year}"


def _act(
    case_id: int,
    name: str,
    form: Any,
    act: Callable[[], None],
    transition_forms: dict[str, TransitionForm] | None = None,
) -> Response | tuple[str, int]:
    """Run one act on a case: redirect to the case when it is done, or show the page again with the
    form's errors (what was typed is kept); a stale page or a forbidden act changes nothing."""
    if form.validate_on_submit():
        try:
            act()
        except CaseChanged:
            flash(str(CHANGED))
            return redirect(url_for("reviewer.case", case_id=case_id))
        except NotAllowed:
            abort(403)
        except (UnknownReference, CannotClean):
            pass  # the field says why
        except TransitionError:
            if not any(field.errors for field in form):
                flash(str(NOT_POSSIBLE))
        else:
            flash(str(SAVED))
            return redirect(url_for("reviewer.case", case_id=case_id, _anchor=name))
    return _case_page(case_id, status=400, **{name: form}, transition_forms=transition_forms or {})


def _case_page(
    case_id: int, status: int = 200, transition_forms: dict[str, TransitionForm] | None = None, **forms: Any
) -> Response | tuple[str, int]:
    login = current_login()
    try:
        opened = casework.open_case(context(), request_session(), case_id, login.keyring.intake)
    except casework.KeyNotHeld:
        flash(str(KEY_NOT_HELD))
        return redirect(url_for("reviewer.queue"))
    except NotAllowed:
        abort(404 if request_session().get(Case, case_id) is None else 403)
    case = opened.case
    state = State(case.state)
    expected = {"expected_state": case.state}
    duplicate_of = request_session().get(Case, case.duplicate_of_id) if case.duplicate_of_id else None
    classification = forms.get("classification") or ClassificationForm(
        formdata=None, data=_classification_data(case, opened.report, duplicate_of), **expected
    )
    assignment = forms.get("assignment") or AssignForm(formdata=None, assignee=str(case.assignee_id or ""), **expected)
    assignment.assignee.choices = _assignee_choices()
    steps = [step for step in lifecycle.steps_from(state) if login.actor.is_lead or not step.lead_only]
    transition_forms = {
        str(step.target): (transition_forms or {}).get(str(step.target))
        or TransitionForm(formdata=None, prefix=str(step.target), **expected)
        for step in steps
    }
    page = render_template(
        "reviewer/case.html",
        opened=opened,
        case=case,
        duplicate_of=duplicate_of,
        state=state,
        report_rows=reports.describe(opened.report),
        overdue=lifecycle.is_overdue(clock_of(case), today()),
        deadline_label=DEADLINE_LABELS.get(state),
        reporter_label=REPORTER_LABELS[state],
        steps=steps,
        step_labels=STEP_LABELS,
        transition_forms=transition_forms,
        classification_form=classification,
        assign_form=assignment,
        message_form=forms.get("message") or MessageForm(formdata=None, **expected),
        note_form=forms.get("note") or NoteForm(formdata=None, **expected),
        reveal_form=forms.get("reveal") or RevealForm(formdata=None, **expected),
        is_lead=login.actor.is_lead,
        **_vocabularies(),
    )
    return page, status


def _classification_data(case: Case, report: dict[str, Any], duplicate_of: Case | None) -> dict[str, Any]:
    """The saved classification, or until there is one, what the reporter chose."""
    categories = [category.category for category in case.categories] or list(report.get("misconduct") or [])
    return {
        "report_type": case.report_type,
        "categories": categories,
        "sector": case.sector or report.get("sector") or "",
        "ward_code": case.ward_code or report.get("ward") or "",
        "urgent": case.urgent or report.get("ongoing") == "YES",
        "protection_requested": case.protection_requested or bool(report.get("protection_requested")),
        "complex": case.complex,
        "especially_complex": case.especially_complex,
        "duplicate_of": duplicate_of.reference if duplicate_of else "",
    }


def _assignee_choices() -> list[SelectChoice]:
    people = accounts.active_inspectors(request_session())
    return [SelectChoice("", _l("Nobody"))] + [SelectChoice(str(person.id), person.display_name) for person in people]


def _vocabularies() -> dict[str, Any]:
    """Code → label lookups the templates use to show stored codes."""
    return {
        "state_names": lifecycle.STATE_NAMES,
        "type_names": _labels(taxonomy.REPORT_TYPES),
        "category_names": _labels(taxonomy.MISCONDUCT),
        "sector_names": _labels(taxonomy.SECTORS),
        "ward_names": _labels(taxonomy.ward_choices()),
        "flag_names": FLAG_LABELS,
    }


def _labels(choices: list[SelectChoice]) -> dict[str, Any]:
    return {choice.value: choice.label for choice in choices}
