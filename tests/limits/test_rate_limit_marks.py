"""The marks views carry (extensions.portal_post_limit, ...) become each app's own limits
(rate_limits.limit_marked_views): on exactly the marked endpoints, once, per app."""

from __future__ import annotations

from app import create_app
from blueprints.extensions import csrf, portal_post_limit
from blueprints.rate_limits import EXTENSION_KEY, current_limiter, limit_marked_views

SETTINGS = {"TESTING": True, "SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": "sqlite://", "PORTAL_RATE_LIMIT": "3/minute"}


@csrf.exempt
@portal_post_limit
def _marked_stand_in():
    return "marked"


def _app_with_stand_in():
    app = create_app(SETTINGS)
    app.add_url_rule("/_test/marked", "marked_stand_in", _marked_stand_in, methods=["POST"])
    limit_marked_views(app)
    return app


def test_the_marked_views_are_the_limited_endpoints():
    app = create_app(SETTINGS)
    assert app.extensions[EXTENSION_KEY].limited_endpoints == {
        "auth.sign_in", "auth.launch", "portal.register", "portal.sign_in", "portal.add_child",
        "portal.forgot_password", "portal.reset_password",
    }


def test_applying_the_marks_again_counts_each_request_once():
    app = _app_with_stand_in()
    limited = app.view_functions["marked_stand_in"]
    limit_marked_views(app)  # a second pass (views added later) leaves limited views alone
    assert app.view_functions["marked_stand_in"] is limited
    client = app.test_client()
    assert [client.post("/_test/marked").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_each_app_counts_in_its_own_limiter():
    first, second = _app_with_stand_in(), _app_with_stand_in()
    with first.app_context():
        first_limiter = current_limiter()
    with second.app_context():
        assert current_limiter() is not first_limiter
    for _ in range(3):
        first.test_client().post("/_test/marked")
    assert first.test_client().post("/_test/marked").status_code == 429
    assert second.test_client().post("/_test/marked").status_code == 200
