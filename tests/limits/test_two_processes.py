"""Two app instances in two processes, as two servers behind a load balancer: this test's app (in the
test process) and a second one served by `flask --app app run` in a subprocess, on the same
database (SQLite file or PostgreSQL), the same secrets and the same Redis. test_two_instances.py
runs both apps in one Python process, where anything kept in a module's memory is shared by
accident; here it is not, so only what lives in the database and in Redis is shared.

The rate-limit counters go to a Redis database of their own (11), which no other test uses, and
each test's clients connect from a loopback address of their own (127.x.y.z), so counts never mix
with another test's."""

from __future__ import annotations

import secrets

import pytest

from tests.support.builders import make_staff
from tests.support.html_readers import csrf_token_from
from tests.support.launch import LAUNCH_SECRET, claims, launch_token
from tests.support.outside_parts import forget_redis_keys, redis_database, require_redis
from tests.support.portal import register
from tests.support.rate_limits import refused
from tests.support.served_app import ServedApp
from tests.support.staff_screens import sign_in

TWO_PROCESS_REDIS = redis_database(11)
SHARED = {"LAUNCH_SECRET": LAUNCH_SECRET, "PORTAL_RATE_LIMIT": "3/minute", "RATELIMIT_STORAGE_URI": TWO_PROCESS_REDIS}


@pytest.fixture
def client_address():
    """A loopback address for this test's clients alone; its counters are removed afterwards."""
    require_redis(TWO_PROCESS_REDIS)
    address = "127.{}.{}.{}".format(*(secrets.randbelow(250) + 2 for _ in range(3)))
    yield address
    forget_redis_keys(TWO_PROCESS_REDIS, f"*{address}*")


@pytest.fixture
def second_process(app, client_address):
    """The same deployment's second server: the test app's database, secrets and limits, as environment."""
    config = app.config
    served = ServedApp({
        "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": config["SECRET_KEY"],
        "LAUNCH_SECRET": config["LAUNCH_SECRET"],
        "RATELIMIT_STORAGE_URI": config["RATELIMIT_STORAGE_URI"],
        "PORTAL_RATE_LIMIT": config["PORTAL_RATE_LIMIT"],
        "PORTAL_URL": config["PORTAL_URL"],
    })
    yield served
    served.stop()


def in_process_client(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


@pytest.mark.parametrize("app_config", [SHARED], indirect=True)
def test_a_launch_token_spent_in_one_process_is_refused_in_the_other(app, practice, second_process, client_address):
    make_staff(app, practice)
    here, there = in_process_client(app, client_address), second_process.client(client_address)

    token = launch_token(claims())
    assert here.get("/launch?token=" + token).status_code == 302
    replay = there.get("/launch?token=" + token)
    assert replay.status_code == 403, f"the other process accepted a spent launch token ({replay.status_code})"

    token = launch_token(claims())  # and the other way round
    spent_there = there.get("/launch?token=" + token)
    assert spent_there.status_code == 302, spent_there.text
    assert in_process_client(app, client_address).get("/launch?token=" + token).status_code == 403


@pytest.mark.parametrize("app_config", [SHARED], indirect=True)
def test_the_portal_limit_counts_across_both_processes(app, practice, second_process, client_address):
    here, there = in_process_client(app, client_address), second_process.client(client_address)
    for client in (here, there, here):
        assert register(client, "ZZZZ-ZZZZ", "2018-05-17").status_code == 422
    # Three POSTs in all from this address: the fourth is refused whichever process receives it.
    refused(register(there, "ZZZZ-ZZZZ", "2018-05-17"))
    refused(register(here, "ZZZZ-ZZZZ", "2018-05-17"))


@pytest.mark.parametrize("app_config", [SHARED], indirect=True)
def test_a_staff_session_started_in_one_process_ends_in_both_at_sign_out_in_the_other(
    app, practice, second_process, client_address
):
    make_staff(app, practice)
    here = in_process_client(app, client_address)
    assert sign_in(here).status_code == 302
    there = second_process.client(client_address)
    there.cookies["session"] = here.get_cookie("session").value  # the next request goes to the other server
    page = there.get("/patients")
    assert page.status_code == 200 and "Sign out" in page.text
    assert there.post("/signout", data={"csrf_token": csrf_token_from(page.text)}).status_code == 302
    assert here.get("/patients").status_code == 302  # ended on the server, so here too
