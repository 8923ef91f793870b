"""Guessing receipts, as the guesser sees it: a burst of wrong codes runs into the limit and tells
nothing, while the reporter holding the right receipt is never locked out.

What this proves, beyond tests/app/test_status.py (which floods /status and checks a right receipt
30 times before a guesser at another address runs out):
- the reporter gets in *during* a burst, on every form that takes the receipt, and a reporter
  checking the right code dozens of times is never limited; malformed codes use up the guesser's
  budget as well as wrong ones, and once limited the guesser costs the database nothing;
- a wrong code's answer is the same as any other wrong code's (status, headers and page, once the
  CSRF token and the code typed back into its field are set aside): a near miss of a real receipt
  tells nothing;
- a malformed code gets the documented 400 "check the code" page without a single SQL statement,
  and a wrong well-formed code costs exactly one SELECT, by lookup id (counted with a
  `before_cursor_execute` listener on the app's engine; never timed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from werkzeug.test import TestResponse

from crypto.errors import ReceiptFormatError
from crypto.receipts import ALPHABET, generate_receipt, lookup_id, parse_receipt
from tests.helpers import CSRF_PATTERN, csrf_token, file_report

GUESSER = "203.0.113.9"
REPORTER = "198.51.100.7"
CHECK_THE_CODE = "This code is not valid. Check it for a typing mistake"
# The lookup form's own field check catches control characters before the code is read.
CONTROL_CHARACTERS = "This text contains characters that cannot be accepted"
NOT_FOUND = "No report was found for this code."
TOO_MANY = "Too many attempts"
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")
# Every form that takes a receipt, with what else it needs.
RECEIPT_FORMS = {"status": {}, "status/message": {"text": "Tôi có thêm thông tin."}, "status/files/1": {}}


def browser(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def send(client: FlaskClient, receipt: str, form: str = "status", lang: str = "vi") -> TestResponse:
    token = csrf_token(client, f"/{lang}/status")
    return client.post(f"/{lang}/{form}", data={"csrf_token": token, "receipt": receipt, **RECEIPT_FORMS[form]})


def well_formed_near_miss(receipt: str, position: int) -> str:
    """The receipt with one character changed and the check character fixed up: a code that differs from
    the real one in two places and still passes the typo check, so it costs a lookup."""
    canonical = parse_receipt(receipt)
    changed = ALPHABET[(ALPHABET.index(canonical[position]) + 1) % len(ALPHABET)]
    payload = canonical[:position] + changed + canonical[position + 1 : -1]
    for check in ALPHABET:
        try:
            return parse_receipt(payload + check)
        except ReceiptFormatError:
            continue
    raise AssertionError("no check character fits")


def visible(response: TestResponse, typed: str) -> tuple[int, dict[str, str], str]:
    """What tells one answer from another: status, headers (but the cookie) and the page, without the CSRF
    token and without the code typed back into its field."""
    page = CSRF_PATTERN.sub("CSRF", response.get_data(as_text=True)).replace(typed, "TYPED")
    headers = {name: value for name, value in response.headers.items() if name not in ("Set-Cookie", "Content-Length")}
    return response.status_code, headers, page


class Statements:
    """Every SQL statement the app's engine sends, as the database would see it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        self.seen.append((statement, parameters))

    @property
    def work(self) -> list[tuple[str, Any]]:
        """Statements that read or write, leaving out SQLite's BEGIN (sent through the engine too)."""
        return [(sql, params) for sql, params in self.seen if sql.strip().upper() not in TRANSACTION_CONTROL]


@pytest.fixture
def statements(citizen_app: Flask) -> Iterator[Statements]:
    engine = citizen_app.extensions["portal_db"].engine
    listener = Statements()
    event.listen(engine, "before_cursor_execute", listener)
    yield listener
    event.remove(engine, "before_cursor_execute", listener)


# --- the limit ----------------------------------------------------------------------------------------


def test_a_burst_of_guesses_is_limited_while_the_reporter_gets_in_during_it(
    citizen_app: Flask, client: FlaskClient
) -> None:
    receipt = file_report(client)
    guesser, reporter = browser(citizen_app, GUESSER), browser(citizen_app, REPORTER)
    guesses, checks = [], []
    for attempt in range(30):
        # Wrong codes and mistyped ones alike use up the guesser's budget.
        guess = generate_receipt() if attempt % 3 else "A" * 19 + "Z"
        guesses.append(send(guesser, guess).status_code)
        if attempt % 2 == 0:  # the reporter checks in the middle of the burst, on every form that takes the code
            checks += [send(reporter, receipt, form).status_code for form in ("status", "status/message")]
    assert [status for status in guesses[:20] if status not in (400, 404)] == []
    assert guesses[20:] == [429] * 10
    assert checks == [200] * len(checks)
    limited = send(guesser, generate_receipt(), lang="en")
    assert limited.status_code == 429 and TOO_MANY in limited.get_data(as_text=True)
    # Long after the guesser ran out, the reporter still gets in.
    assert send(reporter, receipt).status_code == 200


def test_a_reporter_checking_the_right_code_again_and_again_is_never_limited(
    citizen_app: Flask, client: FlaskClient
) -> None:
    receipt = file_report(client)
    reporter = browser(citizen_app, REPORTER)
    # Three times the per-minute limit, typed every way the page accepts.
    typed = [receipt, receipt.lower(), receipt.replace("-", " ")]
    statuses = [send(reporter, typed[attempt % 3]).status_code for attempt in range(60)]
    assert statuses == [200] * 60
    assert send(reporter, receipt, "status/message").status_code == 200


@pytest.mark.parametrize("form", RECEIPT_FORMS)
def test_a_limited_guesser_costs_the_database_nothing(citizen_app: Flask, statements: Statements, form: str) -> None:
    guesser = browser(citizen_app, GUESSER)
    for _attempt in range(20):
        assert send(guesser, generate_receipt(), form).status_code == 404
    statements.seen.clear()
    assert send(guesser, generate_receipt(), form).status_code == 429
    assert statements.seen == []


def test_guesses_spread_over_the_forms_that_take_a_receipt_share_one_budget(citizen_app: Flask) -> None:
    """Ten guesses on each of three forms are thirty guesses, not ten on each of three budgets."""
    guesser = browser(citizen_app, GUESSER)
    statuses = [send(guesser, generate_receipt(), form).status_code for form in RECEIPT_FORMS for _ in range(10)]
    assert statuses[:20] == [404] * 20
    assert statuses[20:] == [429] * 10


# --- what a wrong code tells -------------------------------------------------------------------------


@pytest.mark.parametrize("form", RECEIPT_FORMS)
def test_a_near_miss_gets_exactly_the_answer_of_any_other_wrong_code(
    citizen_app: Flask, client: FlaskClient, form: str
) -> None:
    receipt = file_report(client)
    guesser = browser(citizen_app, GUESSER)
    far = generate_receipt()
    near = [well_formed_near_miss(receipt, position) for position in (0, 9, 18)]
    answers = {code: send(guesser, code, form, lang="en") for code in [far, *near]}
    reference = visible(answers[far], far)
    assert reference[0] == 404 and NOT_FOUND in reference[2]
    for code, answer in answers.items():
        assert visible(answer, code) == reference, f"{code} (near {receipt}) answered differently"


@pytest.mark.parametrize("form", RECEIPT_FORMS)
@pytest.mark.parametrize("position", [0, 12, 23], ids=["first", "middle", "check character"])
def test_mistyped_codes_get_the_same_answer_whether_or_not_they_are_near_a_real_one(
    citizen_app: Flask, client: FlaskClient, form: str, position: int
) -> None:
    """A one-character typo of the real receipt and of a code nobody holds look alike: the check character
    refuses both before any lookup, so nothing says that a real receipt is one keystroke away."""
    receipt = file_report(client)
    guesser = browser(citizen_app, GUESSER)

    def typo(code: str) -> str:
        return code[:position] + ("2" if code[position] != "2" else "3") + code[position + 1 :]

    near, far = typo(receipt), typo(generate_receipt())
    near_answer, far_answer = send(guesser, near, form, lang="en"), send(guesser, far, form, lang="en")
    assert visible(near_answer, near) == visible(far_answer, far)
    assert near_answer.status_code == 400 and CHECK_THE_CODE in near_answer.get_data(as_text=True)


# --- what a code costs the database ----------------------------------------------------------------------


def swapped(receipt: str) -> str:
    """The first swap of two different neighbours that the check character catches (it misses a few)."""
    canonical = parse_receipt(receipt)
    for index in range(len(canonical) - 1):
        candidate = canonical[:index] + canonical[index + 1] + canonical[index] + canonical[index + 2 :]
        try:
            parse_receipt(candidate)
        except ReceiptFormatError:
            return candidate
    raise AssertionError("every swap passes the check")


MALFORMED = {
    "a typo": lambda receipt: receipt[:-1] + ("2" if receipt[-1] != "2" else "3"),
    "two neighbours swapped": lambda receipt: swapped(receipt),
    "one character short": lambda receipt: receipt[:-1],
    "one character too many": lambda receipt: receipt + "7",
    "letters U and L": lambda _receipt: "UUUU-LLLL-UUUU-LLLL-UUUU",
    "markup": lambda _receipt: "<script>alert(1)</script>",
    "NUL bytes": lambda _receipt: "\x00" * 20,
    "SQL": lambda _receipt: "'; DROP TABLE cases; --",
}


@pytest.mark.parametrize("form", RECEIPT_FORMS)
@pytest.mark.parametrize("mistake", MALFORMED)
def test_a_malformed_code_gets_the_check_the_code_page_without_a_single_query(
    citizen_app: Flask, client: FlaskClient, statements: Statements, form: str, mistake: str
) -> None:
    receipt = file_report(client)
    typed = MALFORMED[mistake](receipt)
    statements.seen.clear()
    response = send(client, typed, form, lang="en")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    expected = CONTROL_CHARACTERS if (mistake, form) == ("NUL bytes", "status") else CHECK_THE_CODE
    assert expected in page and 'class="field-error"' in page
    assert "<script>alert(1)</script>" not in page
    assert statements.seen == [], "a malformed code reached the database"


@pytest.mark.parametrize("form", RECEIPT_FORMS)
def test_a_wrong_well_formed_code_costs_exactly_one_select_by_lookup_id(
    citizen_app: Flask, client: FlaskClient, statements: Statements, form: str
) -> None:
    receipt = file_report(client)
    wrong = well_formed_near_miss(receipt, 4)
    statements.seen.clear()
    assert send(client, wrong, form).status_code == 404
    [(sql, parameters)] = statements.work
    assert re.match(r"\s*SELECT\b", sql) and "FROM cases" in sql and "lookup_id" in sql.split("WHERE", 1)[1]
    values = parameters.values() if isinstance(parameters, dict) else parameters
    values = [getattr(value, "obj", value) for value in values]  # psycopg wraps bytes in Binary
    blobs = [bytes(value) for value in values if isinstance(value, bytes | bytearray | memoryview)]
    assert blobs == [lookup_id(citizen_app.config["RECEIPT_PEPPER"], wrong)]
