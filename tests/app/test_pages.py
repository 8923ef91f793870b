"""Pages a person sees first: language, headers, error pages."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from portal.security_headers import HEADERS

CITIZEN_PAGES = ["/vi/", "/en/", "/vi/report", "/en/report", "/vi/status", "/en/status"]


def test_root_goes_to_vietnamese_whatever_the_browser_asks(client: FlaskClient) -> None:
    response = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/vi/")
    page = client.get("/vi/", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="vi">' in page


def test_english_is_one_link_away_and_keeps_the_page(client: FlaskClient) -> None:
    page = client.get("/vi/report").get_data(as_text=True)
    assert 'href="/en/report"' in page
    english = client.get("/en/report").get_data(as_text=True)
    assert '<html lang="en">' in english and "Send a report" in english
    assert 'href="/vi/report"' in english


def test_vietnamese_pages_are_in_vietnamese(client: FlaskClient) -> None:
    page = client.get("/vi/report").get_data(as_text=True)
    assert "Send the report" not in page
    assert "Phường Ô Chợ Dừa" in page  # the 126 Hanoi wards are offered


def test_unknown_language_is_a_404(client: FlaskClient) -> None:
    assert client.get("/fr/report").status_code == 404


@pytest.mark.parametrize("path", CITIZEN_PAGES + ["/nowhere", "/vi/nowhere", "/static/css/portal.css"])
def test_every_response_carries_the_security_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    response.close()
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, name
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


@pytest.mark.parametrize("path", CITIZEN_PAGES)
def test_pages_are_never_cached_and_load_nothing_from_elsewhere(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    page = response.get_data(as_text=True)
    assert "http://" not in page and "https://" not in page and "//" not in page.replace("://", "")
    assert "<script" not in page


def test_not_found_page_is_translated_and_plain(client: FlaskClient) -> None:
    response = client.get("/en/nowhere")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Page not found" in page and "Traceback" not in page
    vietnamese = client.get("/nowhere").get_data(as_text=True)
    assert '<html lang="vi">' in vietnamese


def test_method_not_allowed_gets_a_page(client: FlaskClient) -> None:
    response = client.delete("/vi/report")
    assert response.status_code == 405
    assert 'lang="vi"' in response.get_data(as_text=True)
