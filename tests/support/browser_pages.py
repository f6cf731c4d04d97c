"""What a person does in the browser, by role and accessible name (the outside contract (README)),
plus the checks the browser tests share: axe, no page load, database rows."""

from __future__ import annotations

import re
import zlib

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import func, select

from blueprints.extensions import db
from models import RegistrationCredential
from tests.support.builders import STAFF_PASSWORD

# Record window.print() instead of opening a print dialog, so the test can see it was called.
PRINT_RECORDER = "window.__printCalls = 0; window.print = function () { window.__printCalls += 1; };"

AXE = Axe()
WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
PIN_PATTERN = r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}"


def assert_accessible(page: Page, screen: str) -> None:
    """Zero WCAG 2.1 A/AA violations from axe on what the page shows now."""
    results = AXE.run(page, options=WCAG_AA)
    assert results.violations_count == 0, f"axe on {screen}:\n{results.generate_report()}"


def sign_in(page: Page, live_server, username: str = "alex", password: str = STAFF_PASSWORD) -> None:
    page.goto(live_server("/signin"))
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Patient Administration", exact=True, level=1)).to_be_visible()


def mark_document(page: Page) -> None:
    """A marker that lives as long as this document: a page load forgets it."""
    page.evaluate("window.__sameDocument = true")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page was loaded anew"


def results_table(page: Page) -> Locator:
    return page.get_by_role("table")


def patient_link(page: Page, display_name: str) -> Locator:
    return page.get_by_role("link", name=display_name, exact=True)


def open_account(page: Page, patient) -> None:
    """From Patient Administration: search by last name, then Select the patient's row."""
    page.get_by_label("Last name", exact=True).fill(patient.last_name)
    row = page.get_by_role("row").filter(has=patient_link(page, f"{patient.last_name}, {patient.first_name}"))
    row.get_by_role("link", name="Select", exact=True).click()
    expect(page.get_by_role("heading", name=f"{patient.last_name}, {patient.first_name}", level=1, exact=True)).to_be_visible()


def open_registration(page: Page) -> Locator:
    """Register Patient: the dialog headed Patient Registration, returned once open."""
    page.get_by_role("button", name="Register Patient", exact=True).click()
    dialog = page.get_by_role("dialog", name="Patient Registration", exact=True)
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name="Patient Registration", exact=True)).to_be_visible()
    return dialog


def radio(scope: Page | Locator, group: str, option: str) -> Locator:
    return scope.get_by_role("group", name=group, exact=True).get_by_role("radio", name=option, exact=True)


def is_focused(locator: Locator) -> bool:
    return locator.evaluate("element => element === document.activeElement")


def assert_focus_in_dialog(page: Page) -> str:
    """The focused control is inside the open Patient Registration dialog; returns its name."""
    where = page.evaluate(
        """() => {
          const dialog = document.querySelector("dialog[open]");
          const active = document.activeElement;
          const label = active && active.labels && active.labels.length ? active.labels[0] : active;
          return {inside: !!dialog && dialog.contains(active), name: label ? label.textContent.trim() : ""};
        }"""
    )
    assert where["inside"], f"the focus left the dialog, for {where['name'][:80]!r}"
    return where["name"]


def tab_until_focused(page: Page, target: Locator, limit: int = 40) -> int:
    """Press Tab (as a person would) until `target` has the focus; returns how many presses."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if is_focused(target):
            return presses
    raise AssertionError(f"Tab never reached {target} in {limit} presses")


def shown_pin(scope: Page | Locator) -> str:
    status = scope.get_by_role("status")
    expect(status).to_contain_text(re.compile(PIN_PATTERN))
    match = re.search(PIN_PATTERN, status.inner_text())
    assert match
    return match.group(0)


def credential_rows(app, patient_id: int) -> list[RegistrationCredential]:
    with app.app_context():
        rows = db.session.scalars(
            select(RegistrationCredential)
            .where(RegistrationCredential.patient_id == patient_id)
            .order_by(RegistrationCredential.id)
        ).all()
        db.session.expunge_all()
        return list(rows)


def credential_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(RegistrationCredential))


# Reading what a printed PDF says: Chromium writes text as glyph codes of embedded font subsets
# (Type0, Identity-H), each with a ToUnicode CMap; map the codes back to characters.
_PDF_OBJECT = re.compile(rb"(\d+) 0 obj\b")


def _pdf_objects(pdf: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    """Each object's dictionary text and (inflated) stream, skipping binary streams by length."""
    objects: dict[int, tuple[bytes, bytes | None]] = {}
    position = 0
    while match := _PDF_OBJECT.search(pdf, position):
        stream_at = pdf.find(b"stream", match.end())
        end_at = pdf.find(b"endobj", match.end())
        if stream_at == -1 or stream_at > end_at:
            objects[int(match.group(1))] = (pdf[match.end():end_at], None)
            position = end_at
            continue
        head = pdf[match.end():stream_at]
        start = stream_at + len(b"stream")
        start += 2 if pdf[start:start + 2] == b"\r\n" else 1
        length = re.search(rb"/Length (\d+)\s*(?:/|>>)", head)
        end = start + int(length.group(1)) if length else pdf.find(b"endstream", start)
        data = pdf[start:end]
        if b"/FlateDecode" in head:
            data = zlib.decompress(data)
        objects[int(match.group(1))] = (head, data)
        position = end
    return objects


def _to_unicode(cmap: bytes) -> dict[int, str]:
    table: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.S):
        for source, target in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            table[int(source, 16)] = bytes.fromhex(target.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.S):
        for low, high, target in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            first = int(target, 16)
            for offset, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                table[code] = chr(first + offset)
    return table


def pdf_text(pdf: bytes) -> str:
    """The text a PDF from page.pdf() shows, one line per text object."""
    objects = _pdf_objects(pdf)
    fonts: dict[bytes, dict[int, str]] = {}
    for head, _ in objects.values():
        for font_dict in re.findall(rb"/Font\s*<<(.*?)>>", head, re.S):
            for name, number in re.findall(rb"/(\w+) (\d+) 0 R", font_dict):
                to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", objects[int(number)][0])
                if to_unicode:
                    fonts[name] = _to_unicode(objects[int(to_unicode.group(1))][1] or b"")
    lines: list[str] = []
    token = re.compile(rb"/(\w+)\s+[-\d.]+\s+Tf|<([0-9A-Fa-f]*)>\s*Tj|\[(.*?)\]\s*TJ|\bET\b", re.S)
    for _, data in objects.values():
        if not data or b"BT" not in data:
            continue
        font: dict[int, str] = {}
        line = ""
        for match in token.finditer(data):
            if match.group(1):
                font = fonts.get(match.group(1), {})
                continue
            if match.group(0) == b"ET":
                lines.append(line)
                line = ""
                continue
            hexes = [match.group(2)] if match.group(2) is not None else re.findall(rb"<([0-9A-Fa-f]*)>", match.group(3))
            for chunk in hexes:
                codes = chunk.decode()
                line += "".join(font.get(int(codes[i:i + 4], 16), "\ufffd") for i in range(0, len(codes), 4))
    return "\n".join(lines)


def pdf_page_count(pdf: bytes) -> int:
    """Page objects (/Type /Page, not the /Pages tree); the tree's /Count must agree."""
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    counts = [int(n) for n in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count (\d+)", pdf, re.S)]
    assert counts and max(counts) == pages, f"page tree says {counts}, page objects {pages}"
    return pages
