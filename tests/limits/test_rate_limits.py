"""Per-client rate limits (README: The outside contract): staff sign-in and the portal's POSTs, the
429 page, storage shared by app instances through Redis (and not through memory), and the web
app's refusal to start on a production database without RATELIMIT_STORAGE_URI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import click
import pytest

from app import create_app
from blueprints.extensions import csrf, db, portal_post_limit
from blueprints.rate_limits import RateLimitStorageRequired, current_limiter, describe_wait, limit_marked_views, retry_after_seconds
from config import Config
from tests.support.builders import STAFF_PASSWORD, make_staff
from tests.support.html_readers import csrf_token_from
from tests.support.network import free_port
from tests.support.outside_parts import REDIS_URL, require_redis
from tests.support.rate_limits import refused
from tests.support.staff_screens import sign_in

REPO = Path(__file__).resolve().parents[2]
WRONG = "not-the-password"
# A production-style database URL: create_app refuses before connecting, so nothing listens here.
PRODUCTION_URL = "postgresql+psycopg://portal:s3cret-db-password@127.0.0.1:1/portal"
# --- production defaults ------------------------------------------------------------------------


def test_production_defaults_are_exactly_the_contract_values(tmp_path):
    settings = Config(tmp_path, environ={"SECRET_KEY": "k"}).as_mapping()
    assert settings["SIGNIN_RATE_LIMIT"] == "10/minute"
    assert settings["PORTAL_RATE_LIMIT"] == "20/minute;200/day"
    assert settings["RATELIMIT_STORAGE_URI"] is None
    overridden = Config(tmp_path, environ={"SECRET_KEY": "k", "SIGNIN_RATE_LIMIT": "5/minute",
                                           "PORTAL_RATE_LIMIT": "7/minute", "RATELIMIT_STORAGE_URI": "redis://h:6379/0"})
    assert overridden.as_mapping()["SIGNIN_RATE_LIMIT"] == "5/minute"
    assert overridden.as_mapping()["PORTAL_RATE_LIMIT"] == "7/minute"
    assert overridden.as_mapping()["RATELIMIT_STORAGE_URI"] == "redis://h:6379/0"


def test_waits_are_told_rounded_up():
    assert retry_after_seconds(100.2, now=58.0) == 43
    assert retry_after_seconds(10.0, now=10.5) == 1
    assert describe_wait(1) == "1 second" and describe_wait(42) == "42 seconds"
    assert describe_wait(119) == "119 seconds" and describe_wait(121) == "3 minutes"
    assert describe_wait(86_400) == "24 hours" and describe_wait(7_201) == "3 hours"


# --- staff sign-in ------------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{"SIGNIN_RATE_LIMIT": "3/minute"}], indirect=True)
def test_sign_in_is_refused_after_the_limit_even_with_the_right_password(app, client, practice):
    make_staff(app, practice)
    for _ in range(3):
        assert sign_in(client, password=WRONG).status_code == 422
    response = sign_in(client)
    seconds = refused(response)
    assert 1 <= seconds <= 60
    body = response.get_data(as_text=True)
    assert "<html" in body and "<h1>Too many requests</h1>" in body
    assert client.get("/patients").status_code == 302  # not signed in
    # htmx asks for a fragment: the same words, no page around them.
    token = csrf_token_from(client.get("/signin").get_data(as_text=True))
    fragment = client.post("/signin", data={"username": "alex", "password": STAFF_PASSWORD, "csrf_token": token},
                           headers={"HX-Request": "true"})
    assert refused(fragment) <= seconds
    assert "<html" not in fragment.get_data(as_text=True)


def test_the_default_sign_in_limit_is_ten_posts_a_minute(app, client, practice):
    make_staff(app, practice)
    for n in range(10):  # ten usernames: one username's own delay (tests/identity) stays out of it
        assert sign_in(client, username=f"guess{n}", password=WRONG).status_code == 422
    refused(sign_in(client))


def test_showing_the_sign_in_page_is_never_limited(app, client, practice):
    make_staff(app, practice)
    for _ in range(25):  # well past the 10/minute default
        assert client.get("/signin").status_code == 200
    assert sign_in(client).status_code == 302  # and none of those GETs were counted


@pytest.mark.parametrize("app_config", [{"SIGNIN_RATE_LIMIT": "2/minute"}], indirect=True)
def test_the_limit_is_per_client(app, practice):
    make_staff(app, practice)
    crowded = app.test_client()
    for _ in range(2):
        sign_in(crowded, password=WRONG)
    refused(sign_in(crowded))
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert sign_in(elsewhere).status_code == 302


# --- the portal's decorator ---------------------------------------------------------------------
# The portal blueprint applies `portal_post_limit` to its own POST routes; these stand-in views
# check the decorator itself: POSTs only, PORTAL_RATE_LIMIT read per request, one budget per client.


@csrf.exempt
@portal_post_limit
def _stand_in_register():
    return "register"


@csrf.exempt
@portal_post_limit
def _stand_in_add_child():
    return "add child"


def _with_stand_ins(app):
    app.add_url_rule("/_test/register", "stand_in_register", _stand_in_register, methods=["GET", "POST"])
    app.add_url_rule("/_test/add-child", "stand_in_add_child", _stand_in_add_child, methods=["GET", "POST"])
    limit_marked_views(app)  # as create_app does for the views it registers
    return app.test_client()


def test_the_default_portal_limit_is_twenty_posts_a_minute(app):
    client = _with_stand_ins(app)
    for _ in range(30):
        assert client.get("/_test/register").status_code == 200
    for _ in range(20):
        assert client.post("/_test/register").status_code == 200
    seconds = refused(client.post("/_test/register"))
    assert seconds <= 60


@pytest.mark.parametrize("app_config", [{"PORTAL_RATE_LIMIT": "50/minute;3/day"}], indirect=True)
def test_portal_posts_share_one_budget_and_a_daily_limit_says_hours(app):
    client = _with_stand_ins(app)
    assert client.post("/_test/register").status_code == 200
    assert client.post("/_test/add-child").status_code == 200
    assert client.post("/_test/register").status_code == 200
    response = client.post("/_test/add-child")
    refused(response)
    assert "Try again in 24 hours." in response.get_data(as_text=True)
    assert client.get("/_test/register").status_code == 200


@pytest.mark.parametrize("app_config", [{"PORTAL_RATE_LIMIT": "4/minute"}], indirect=True)
def test_add_another_child_a_pin_guessing_form_is_refused_past_the_limit(app, staff_client, practice, mailbox):
    """A signed-in parent can try sibling PINs at `Add another child`: its POSTs count in the portal's
    budget like registering does, and past it even the right PIN gets the 429 page, not the child."""
    from datetime import date

    from tests.support.builders import make_patient
    from tests.support.portal import issue_pin, portal_post, register

    emma = make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17))
    liam = make_patient(app, practice, "Liam", "Carter", date(2020, 8, 9))
    parent = app.test_client()
    assert register(parent, issue_pin(staff_client, emma.id, send_by="none"), "2018-05-17").status_code == 303
    liams_pin = issue_pin(staff_client, liam.id, send_by="none")
    guesses = [portal_post(parent, "/portal/children/add", date_of_birth="2020-08-09", pin=f"ZZZZ-ZZZ{n}")
               for n in range(3)]
    assert [guess.status_code for guess in guesses] == [422, 422, 422]  # with registering: 4 POSTs
    refused(portal_post(parent, "/portal/children/add", date_of_birth="2020-08-09", pin="ZZZZ-ZZZ9"))
    refused(portal_post(parent, "/portal/children/add", date_of_birth="2020-08-09", pin=liams_pin))
    home = parent.get("/portal/").get_data(as_text=True)
    assert ">Emma</span>" in home and "Liam" not in home
    assert parent.get("/portal/children/add").status_code == 200  # showing the form is not limited


# --- two app instances --------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{"SIGNIN_RATE_LIMIT": "3/minute", "redis": True}], indirect=True)
def test_two_instances_sharing_redis_share_the_limit(app, twin, practice):
    make_staff(app, practice)
    first, second = app.test_client(), twin.test_client()
    assert sign_in(first, password=WRONG).status_code == 422
    assert sign_in(second, password=WRONG).status_code == 422
    assert sign_in(first, password=WRONG).status_code == 422
    # Three attempts in all: the fourth is refused whichever instance receives it.
    refused(sign_in(second))
    refused(sign_in(first))
    with app.app_context():
        assert type(current_limiter().storage).__name__ == "RedisStorage"


@pytest.mark.parametrize("app_config", [{"SIGNIN_RATE_LIMIT": "3/minute"}], indirect=True)
def test_two_instances_counting_in_memory_do_not_share(app, twin, practice):
    """Why production needs Redis: each process counts on its own, so two instances together
    grant twice the limit."""
    make_staff(app, practice)
    first, second = app.test_client(), twin.test_client()
    for n in range(3):  # a username each: one username's own delay (tests/identity) stays out of it
        assert sign_in(first, username=f"guess{n}", password=WRONG).status_code == 422
        assert sign_in(second, username=f"other{n}", password=WRONG).status_code == 422
    refused(sign_in(first))
    refused(sign_in(second))
    with app.app_context():
        first_storage = current_limiter().storage
    with twin.app_context():
        assert current_limiter().storage is not first_storage


# --- refusing to start without shared storage ---------------------------------------------------


def _settings(**extra) -> dict:
    return {"SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": PRODUCTION_URL, "RATELIMIT_STORAGE_URI": None, **extra}


def test_web_app_on_postgresql_without_storage_refuses_saying_why():
    with pytest.raises(RuntimeError) as refused:
        create_app(_settings())
    assert isinstance(refused.value, RateLimitStorageRequired)
    message = str(refused.value)
    assert "RATELIMIT_STORAGE_URI is not set" in message
    assert "postgresql" in message and "RATELIMIT_STORAGE_URI=redis://" in message
    assert "s3cret-db-password" not in message  # the URL is never echoed


def test_a_click_program_other_than_the_flask_cli_is_a_web_server():
    """uvicorn and other click-based servers have a click context but no Flask ScriptInfo."""
    with click.Context(click.Command("uvicorn")), pytest.raises(RateLimitStorageRequired):
        create_app(_settings())


def test_storage_choice_on_each_database():
    sqlite = create_app({"SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": "sqlite://", "RATELIMIT_STORAGE_URI": None})
    assert sqlite.config["RATELIMIT_STORAGE_URI"] == "memory://"
    shared = create_app(_settings(RATELIMIT_STORAGE_URI=REDIS_URL))  # Redis is not contacted here
    assert shared.config["RATELIMIT_STORAGE_URI"] == REDIS_URL
    with shared.app_context():
        assert type(current_limiter().storage).__name__ == "RedisStorage"
        db.engine.dispose()


def test_a_malformed_limit_stops_the_web_app_at_start():
    with pytest.raises(RuntimeError, match="SIGNIN_RATE_LIMIT='lots' is not a rate limit"):
        create_app({"SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": "sqlite://", "SIGNIN_RATE_LIMIT": "lots"})


def _flask_env(database_url: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RATELIMIT_", "FLASK_", "WERKZEUG_"))}
    env.update(DATABASE_URL=database_url, SECRET_KEY="subprocess-secret-key", PYTHONUNBUFFERED="1", **extra)
    env.pop("MAIL_SERVER", None)
    return env


def _flask(*args: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_flask_run_on_postgresql_without_storage_exits_saying_why():
    try:
        result = _flask("run", "--host", "127.0.0.1", "--port", str(free_port()), env=_flask_env(PRODUCTION_URL), timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("`flask run` started serving without RATELIMIT_STORAGE_URI on PostgreSQL")
    assert result.returncode != 0
    assert "Error: RATELIMIT_STORAGE_URI is not set" in result.stderr
    assert "RATELIMIT_STORAGE_URI=redis://" in result.stderr
    assert "Traceback" not in result.stderr and "s3cret-db-password" not in result.stderr


def test_cli_commands_never_need_the_storage(app):
    """`carriers list` and `db current` on the test database (SQLite, and PostgreSQL when
    TEST_DATABASE_URL is set) with no RATELIMIT_STORAGE_URI."""
    env = _flask_env(app.config["SQLALCHEMY_DATABASE_URI"])
    carriers = _flask("carriers", "list", env=env)
    assert carriers.returncode == 0, carriers.stderr
    assert "Verizon" in carriers.stdout
    current = _flask("db", "current", env=env)
    assert current.returncode == 0, current.stderr
    routes = _flask("routes", env=_flask_env(PRODUCTION_URL))  # no database reached at all
    assert routes.returncode == 0, routes.stderr
    assert "/signin" in routes.stdout


def test_flask_run_on_postgresql_with_redis_storage_serves(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("covers the PostgreSQL case; SQLite never needs RATELIMIT_STORAGE_URI")
    require_redis()
    port = free_port()
    env = _flask_env(app.config["SQLALCHEMY_DATABASE_URI"], RATELIMIT_STORAGE_URI=REDIS_URL,
                     RATELIMIT_KEY_PREFIX=f"portal-pins-test-{uuid.uuid4().hex}")
    server = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "run", "--host", "127.0.0.1", "--port", str(port)],
                              cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/signin", timeout=2) as response:
                    status = response.status
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert status == 200, f"server did not serve /signin (exit {server.poll()})"
    finally:
        server.terminate()
        try:
            server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
