"""What the tests share, by purpose: builders (practices, staff, patients), mail (SMTP servers on
loopback), html_readers, staff_screens and portal (what staff and parents do through the test
client), rows (what the app stored), app_settings, launch, rate_limits, and for the browser tests
browser_pages and chromium. Fixtures live in the conftest.py files; test modules import only these."""
