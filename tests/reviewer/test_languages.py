"""The reviewer app in both languages: switching keeps the page and everything its address holds."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient

from tests.reviewer_helpers import log_in


def test_switching_language_keeps_every_filter_of_the_queue(reviewer: FlaskClient, staff: dict) -> None:
    log_in(reviewer, staff["lead"])
    page = reviewer.get("/vi/cases?flags=urgent&flags=anonymous&sector=LAND").get_data(as_text=True)
    link = re.search(r'href="(/en/cases\?[^"]*)"[^>]*>English<', page)
    assert link, "no English link on the queue"
    english = reviewer.get(html.unescape(link.group(1))).get_data(as_text=True)
    assert 'lang="en"' in english
    for flag in ("urgent", "anonymous"):
        assert re.search(rf'id="flag-{flag}" name="flags" value="{flag}" checked', english), flag
