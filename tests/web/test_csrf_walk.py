"""CSRF on every state-changing route, found by walking `app.url_map` (a review found "CSRF exempted
on Add staff" stayed green while only 8 of 17 POST routes had a no-token test).

Every POST (PUT, PATCH, DELETE) rule gets a valid-looking form with real ids and no csrf_token,
from a signed-in admin, a signed-in parent and an anonymous client, as a plain form and as htmx:
each must be refused by the CSRF check (400 and its message) and leave every table's row count
as it was, and send no mail. A route that is signed instead (a webhook) must be listed in
SIGNED_INSTEAD_OF_CSRF; the test fails for an exempt route not listed, and for a listed route that
is not exempt."""

from __future__ import annotations

import secrets

from tests.support.routes import KNOWN_IDS, build_sample_world, row_counts, state_changing_routes
from tests.support.staff_screens import HX

# Endpoints that authenticate by a signature of their own instead of the session's CSRF token.
# Twilio's status callbacks carry X-Twilio-Signature (tests/delivery/test_twilio.py tests it).
SIGNED_INSTEAD_OF_CSRF: frozenset[str] = frozenset({"webhooks.twilio_status"})
CSRF_REFUSAL = "The form has expired or did not come from this site"
# Today's count of state-changing rule + method pairs: one that drops out of the walk shows here.
MIN_STATE_CHANGING = 18

# What each form would need to do damage if the check were missing.
PLAUSIBLE_FORM = {
    "username": "mallory", "password": "a long enough password 42", "is_admin": "y",
    "practice_id": "1", "pin_lifetime_days": "30", "subject": "Hello", "body": "Your PIN {{ pin }}",
    "action": "save", "reason": "Parent asked", "revoke-guardian-reason": "Parent asked",
    "revoke-minor-reason": "Parent asked", "first_name": "Mallory", "last_name": "Intruder",
    "method": "pin", "access": "full", "send_by": "email", "email": "intruder@example.com",
    "send_to": "guardian", "date_of_birth": "2018-05-17", "pin": "ZZZZ-ZZZZ", "accept_terms": "y",
}


def test_every_state_changing_route_refuses_a_form_without_its_csrf_token(app, mailbox):
    world = build_sample_world(app)
    routes = state_changing_routes(app, KNOWN_IDS)
    mailed = len(mailbox.messages)
    failures, not_refused = [], set()
    for route, method in routes:
        for actor, client in world.clients().items():
            for htmx in (False, True):
                before = row_counts(app)
                form = {**PLAUSIBLE_FORM, "idempotency_key": secrets.token_urlsafe(24)}
                response = client.open(route.url(world.ids), method=method, data=form, headers=HX if htmx else {})
                where = f"{method} {route.rule} ({route.endpoint}) as {actor}{', htmx' if htmx else ''}"
                text = response.get_data(as_text=True)
                if not (response.status_code == 400 and CSRF_REFUSAL in text):
                    not_refused.add(route.endpoint)
                    if route.endpoint not in SIGNED_INSTEAD_OF_CSRF:
                        failures.append(f"{where}: {response.status_code}, not refused for its missing CSRF token")
                after = row_counts(app)
                changed = {table: (before[table], after[table]) for table in before if before[table] != after[table]}
                if changed:
                    failures.append(f"{where}: row counts changed {changed}")
                if len(mailbox.messages) != mailed:
                    failures.append(f"{where}: mail was sent")
                    mailed = len(mailbox.messages)

    print(f"\nCSRF walk: {len(routes)} state-changing rule + method pairs, each as {', '.join(world.clients())}:")
    for route, method in routes:
        print(f"  {method} {route.rule} ({route.endpoint})")
    assert not failures, "state-changing routes without CSRF protection:\n" + "\n".join(failures)
    listed_but_protected = SIGNED_INSTEAD_OF_CSRF - not_refused
    assert not listed_but_protected, f"listed as signed instead of CSRF-protected, yet CSRF-protected: {listed_but_protected}"
    assert len(routes) >= MIN_STATE_CHANGING, [str(route) for route, _ in routes]
