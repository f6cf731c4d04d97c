"""The app served by `flask --app app run` in a process of its own, configured from the environment as
a deployed instance is, on a test app's database and secrets; and an HTTP client that keeps its
cookie and connects from a loopback address of its choosing (rate limits count per address)."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
from http.cookies import SimpleCookie
from pathlib import Path

from tests.support.network import free_port

REPO = Path(__file__).resolve().parents[2]
# Bounded waits (the server's start, one request): a server that hangs fails the test.
START_SECONDS = 60
REQUEST_SECONDS = 30


class ServedApp:
    """`flask --app app run` on a free loopback port. `settings` are environment variables (the
    names config.py reads); everything else of the test's environment that config.py reads is
    dropped, so the process sees only what a deployment would give it."""

    def __init__(self, settings: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            key: value for key, value in os.environ.items()
            if not key.startswith(("FLASK_", "MAIL_", "RATELIMIT_", "WERKZEUG_"))
            and key not in {"DATABASE_URL", "SECRET_KEY", "OUTBOX_KEY", "LAUNCH_SECRET", "PORTAL_URL",
                            "PORTAL_RATE_LIMIT", "SIGNIN_RATE_LIMIT"}
        }
        env.update(PYTHONUNBUFFERED="1", **settings)
        flask = Path(sys.executable).with_name("flask")
        command = [str(flask)] if flask.exists() else [sys.executable, "-m", "flask"]
        # Its log goes to a file, not a pipe: a pipe nobody reads would stop the server once full.
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - open while the server runs; stop() closes it
        self.process = subprocess.Popen(
            [*command, "--app", "app", "run", "--host", "127.0.0.1", "--port", str(self.port), "--no-reload"],
            cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT, text=True,
        )
        try:
            self._wait_until_serving()
        except BaseException:
            self.stop()
            raise

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"`flask run` exited {self.process.returncode}:\n{self.output()}")
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                connection.request("GET", "/signin")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.1)
        raise AssertionError(f"`flask run` did not serve /signin within {START_SECONDS} s")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()

    def client(self, source_address: str = "127.0.0.1") -> LoopbackClient:
        return LoopbackClient(self.port, source_address)


class Response:
    def __init__(self, status: int, headers: dict[str, str], text: str):
        self.status_code = status
        self.headers = headers
        self.text = text

    def get_data(self, as_text: bool = True) -> str:  # as the test client's responses read
        return self.text


class LoopbackClient:
    """Requests to the served app from `source_address` (any 127.x.y.z), keeping its cookies."""

    def __init__(self, port: int, source_address: str):
        self.port = port
        self.source_address = source_address
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, data: dict | None = None) -> Response:
        headers = {}
        body = None
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if data is not None:
            body = urllib.parse.urlencode(data)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=REQUEST_SECONDS, source_address=(self.source_address, 0)
        )
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            for value in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(value).items():
                    self.cookies[name] = morsel.value
            return Response(response.status, dict(response.headers), response.read().decode())
        finally:
            connection.close()

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, data: dict) -> Response:
        return self.request("POST", path, data)
