"""The page reacts to the events the Patient Registration window's fragments send
(blueprints/registration: registration:opened, :issued, :invalid), not to ids found after a swap."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.browser_pages import credential_rows, open_account, open_registration, radio

pytestmark = pytest.mark.browser


def test_complete_log_in_on_an_invalid_window_closes_the_tab_it_opened(signed_in, live_server, context, app, teen):
    page = signed_in
    open_account(page, teen)
    dialog = open_registration(page)
    radio(dialog, "Register Patient with", "Verification Question").check()
    question = dialog.get_by_label("Question", exact=True)
    expect(question).to_be_visible()
    # The click opens a blank tab (a popup blocker allows only that); the 422 brings no result,
    # so the tab closes, and the first field in error takes the focus.
    with context.expect_page() as new_tab:
        dialog.get_by_role("button", name="Complete / Log In", exact=True).click()
    tab = new_tab.value
    expect(question).to_have_attribute("aria-invalid", "true")
    expect(question).to_be_focused()
    # The page closed the tab before the swap settled; Playwright hears of it a moment later.
    for _ in range(100):
        if tab.is_closed():
            break
        page.wait_for_timeout(50)
    assert tab.is_closed()
    assert context.pages == [page]
    assert credential_rows(app, teen.id) == []
