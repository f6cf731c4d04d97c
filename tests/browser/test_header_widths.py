"""Issue 14: the staff header at panel widths. At 800 px (the portal's panel) and at 1366 px, on
every staff page, no header link, button or text breaks onto a second line ("Patient /
Administration", "Sign / out") and the header fits the width; axe stays clean. Screenshots:
tests/artifacts/50-header-<width>-<page>-<database>.png."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect

from tests.support.browser_pages import STAFF_PASSWORD, assert_accessible
from tests.support.builders import make_patient, make_staff

pytestmark = pytest.mark.browser

# The widest header there is: an admin of two practices (Practice Settings, Outbox on SQLite,
# Switch practice) with a long practice name and username.
USERNAME = "frontdesk.coordinator"

# For each text in the header: how many lines its words take (one range per text node, its
# client rects grouped by their top), and the header's overflow.
MEASURE = """() => {
  const header = document.querySelector('header.site-header');
  const walker = document.createTreeWalker(header, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
    texts.push({text: node.textContent.trim(), lines: tops.size});
  }
  const rows = new Set([...header.children].map(child => Math.round(child.getBoundingClientRect().top)));
  return {texts, rows: rows.size, room: header.clientWidth - [...header.children].reduce((sum, c) => sum + c.getBoundingClientRect().width, 0),
          overflow: header.scrollWidth - header.clientWidth,
          pageOverflow: document.documentElement.scrollWidth - document.documentElement.clientWidth};
}"""


def _pages(patient_id: int) -> dict[str, str]:
    return {
        "search": "/patients",
        "account": f"/patients/{patient_id}",
        "basic-info": f"/patients/{patient_id}/basic-info",
        "registration": f"/patients/{patient_id}/registration",
        "settings": "/practice/settings",
        "templates": "/practice/templates",
        "template-email": "/practice/templates/email",
        "staff": "/practice/staff",
        "audit": "/practice/audit",
        "outbox": "/dev/outbox",
    }


def test_the_header_stays_on_one_line_on_every_staff_page_at_800_and_1366_px(browser_page, live_server, app, practice, other_practice, shot):
    page = browser_page
    make_staff(app, practice, USERNAME, admin=True)
    make_staff(app, other_practice, USERNAME, admin=True)
    patient = make_patient(app, practice, "Sofía", "Núñez-Ortiz", date(2012, 3, 14), guardian_email="maria@example.com")
    page.goto(live_server("/signin"))
    page.get_by_label("Username", exact=True).fill(USERNAME)
    page.get_by_label("Password", exact=True).fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("button", name="Cedar Pediatrics", exact=True).click()
    expect(page.get_by_role("heading", name="Patient Administration", exact=True, level=1)).to_be_visible()
    outbox = app.config["DEV_OUTBOX"]

    problems = []
    for width in (800, 1366):
        page.set_viewport_size({"width": width, "height": 800})
        for name, path in _pages(patient.id).items():
            if name == "outbox" and not outbox:
                continue
            page.goto(live_server(path))
            expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
            expect(page.get_by_role("link", name="Switch practice", exact=True)).to_be_visible()
            measured = page.evaluate(MEASURE)
            broken = [t["text"] for t in measured["texts"] if t["lines"] != 1]
            if broken:
                problems.append(f"{width} px {name}: on more than one line: {broken}")
            if measured["rows"] != 1:
                problems.append(f"{width} px {name}: the header takes {measured['rows']} rows (room {measured['room']:.0f} px)")
            if measured["overflow"] > 0 or measured["pageOverflow"] > 0:
                problems.append(f"{width} px {name}: wider than the window by {max(measured['overflow'], measured['pageOverflow'])} px")
            shot(page, f"50-header-{width}-{name}")
            if width == 800:
                assert_accessible(page, f"{name} at 800 px")
    assert not problems, "\n".join(problems)
