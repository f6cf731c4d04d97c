"""Automatic logoff in Chromium: with a 3-second idle limit, a Patient Account page left alone
goes to Sign in by itself ("Your session ended"), taking the patient's data off the screen, and
the server refuses the old session afterwards."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.browser_pages import open_account

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    return {"SESSION_IDLE_MINUTES": 0.05}  # 3 seconds


def test_an_idle_page_leaves_for_sign_in_and_takes_the_patient_off_the_screen(signed_in, live_server, child, shot):
    page = signed_in
    open_account(page, child)
    expect(page.get_by_role("heading", name="Carter, Emma", level=1)).to_be_visible()
    # 3 s idle limit + 5 s grace: the page leaves by itself (generous margin for a slow machine).
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible(timeout=20_000)
    expect(page.get_by_role("status")).to_contain_text("Your session ended")
    assert "Carter" not in page.content()
    page.goto(live_server(f"/patients/{child.id}"))
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    shot(page, "35-session-ended")
