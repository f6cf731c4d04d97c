"""The delivery region on the Patient Account page in Chromium: a message left queued (the mail
server was down) shows Queued with the reason and the next try, offers Retry and Print instead,
and refreshes itself; once the worker delivers it, the region turns to Sent by itself, without a
page load, and refreshes only slowly (a bounce may still come)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from models import utcnow
from tests.support.browser_pages import (
    assert_accessible,
    assert_same_document,
    mark_document,
    open_account,
    open_registration,
    shown_pin,
)
from tests.support.mail import point_mail_at
from tests.support.network import free_port

pytestmark = pytest.mark.browser


def test_a_queued_message_settles_to_sent_by_itself(signed_in, live_server, app, child, mailbox, sink_port, shot):  # noqa: F811
    page = signed_in
    open_account(page, child)
    point_mail_at(app, MAIL_PORT=free_port())  # nothing listens: the inline attempt fails
    dialog = open_registration(page)
    dialog.get_by_role("button", name="Send PIN / Verification Question", exact=True).click()
    pin = shown_pin(dialog)
    expect(dialog.get_by_role("status")).to_contain_text("Not delivered yet")
    dialog.get_by_role("button", name="Close", exact=True).click()

    guardian = page.get_by_role("region", name="Parent/Guardian", exact=True)
    expect(guardian).to_contain_text("Queued")
    expect(guardian).to_contain_text("not delivered yet. Could not reach the mail server: it refused the connection.")
    expect(guardian).to_contain_text("Next try")
    expect(guardian.get_by_role("button", name="Retry", exact=True)).to_be_visible()
    expect(guardian.get_by_role("button", name="Print instead", exact=True)).to_be_visible()
    assert page.locator("#delivery-guardian[hx-trigger]").count() == 1  # it refreshes itself
    assert_accessible(page, "Patient Account page with a queued message")
    shot(page, "33-account-queued")
    mark_document(page)

    # The mail server is back and the worker runs (as `outbox send` would, next minute).
    point_mail_at(app, MAIL_PORT=sink_port)
    app.config["CLOCK"] = lambda: utcnow() + timedelta(minutes=10)  # past the lease and the backoff
    result = app.test_cli_runner().invoke(args=["outbox", "send"])
    del app.config["CLOCK"]
    assert "sent: 1" in result.output, result.output
    assert pin in mailbox.messages[-1].get_body(preferencelist=("plain",)).get_content()

    expect(guardian).to_contain_text("Sent", timeout=12_000)  # the next refresh, within 5 s
    expect(guardian.get_by_role("button", name="Retry", exact=True)).to_have_count(0)
    expect(guardian.get_by_role("button", name="Print instead", exact=True)).to_have_count(0)
    # Sent, so no more 5-second polling; a slow refresh for an hour, while a bounce may still come.
    assert page.locator('#delivery-guardian[hx-trigger="every 30s"]').count() == 1
    assert_same_document(page)
    shot(page, "34-account-sent")
