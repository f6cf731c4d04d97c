"""`?practice=SLUG` in a message's link: the parent's pages show the practice's name before
anything is redeemed; a slug no practice has (or anything else) is simply ignored."""

from __future__ import annotations

import re

import pytest

from tests.support.html_readers import csrf_token_from

PAGES = ["/portal/register", "/portal/signin"]


def practice_line(response) -> str | None:
    found = re.search(r'<p class="portal-practice">(.*?)</p>', response.get_data(as_text=True))
    return re.sub(r"<[^>]+>", "", found.group(1)) if found else None


def test_the_register_page_says_which_practice_the_parent_registers_with(client, practice, other_practice):
    assert practice_line(client.get("/portal/register?practice=cedar-pediatrics")) == "Registering with Cedar Pediatrics"
    assert practice_line(client.get("/portal/register?practice=birch-family-medicine")) == "Registering with Birch Family Medicine"
    assert practice_line(client.get("/portal/register")) is None


def test_the_sign_in_page_shows_the_practice_and_its_links_keep_naming_it(client, practice):
    page = client.get("/portal/signin?practice=cedar-pediatrics")
    assert practice_line(page) == "Cedar Pediatrics"
    assert 'href="/portal/register?practice=cedar-pediatrics"' in page.get_data(as_text=True)
    register = client.get("/portal/register?practice=cedar-pediatrics").get_data(as_text=True)
    assert 'href="/portal/signin?practice=cedar-pediatrics"' in register


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("slug", ["no-such-practice", "CEDAR-PEDIATRICS", "", "a" * 5000, "cedar pediatrics", "%00", "é", "'--"])
def test_an_unknown_slug_is_ignored(client, practice, page, slug):
    response = client.get(page, query_string={"practice": slug})
    assert response.status_code == 200
    assert practice_line(response) is None
    assert csrf_token_from(response.get_data(as_text=True))  # the usual form, not an error page
