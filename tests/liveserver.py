"""`attend review serve` as a real process on a free localhost port, for tests that need the
real server: its HTTP parsing, its access log, its memory.

`running_server(site, tmp_path, *options)` starts it over a site (tests/website.py) and stops
it; `LiveServer` reads its log and its memory, and speaks plain HTTP with http.client (so
headers, cookies and chunked bodies are exactly what the test sends).
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOGIN_CSRF = re.compile(r'id="login-csrf" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    cookies: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass(frozen=True)
class LiveServer:
    port: int
    pid: int
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text()

    def access_lines(self) -> list[str]:
        """uvicorn's access log lines: `ADDRESS:PORT - "METHOD PATH HTTP/1.1" STATUS`."""
        return [line for line in self.log().splitlines() if '"' in line and " - " in line]

    def memory_kib(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak since start or since `reset_peak`), in KiB."""
        found = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
        return found

    def reset_peak(self) -> None:
        """Start VmHWM again from the current RSS (Linux clear_refs 5)."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def connection(self, timeout: float = 30.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One request on a fresh connection."""
        conn = self.connection()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            return _answer(conn.getresponse())
        finally:
            conn.close()

    def chunked(
        self,
        method: str,
        path: str,
        chunks: Iterable[bytes],
        *,
        headers: dict[str, str] | None = None,
    ) -> tuple[Answer, int]:
        """Send a body with Transfer-Encoding: chunked (no Content-Length), stopping when the
        server has answered; returns the answer and how many body bytes were sent."""
        conn = self.connection()
        sent = 0
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in {**(headers or {}), "Transfer-Encoding": "chunked"}.items():
                conn.putheader(name, value)
            conn.endheaders()
            sock = conn.sock
            assert sock is not None
            for chunk in chunks:
                if _readable(sock):
                    break  # the server answered early: stop sending, as a browser does
                try:
                    conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += len(chunk)
            else:
                conn.send(b"0\r\n\r\n")
            return _answer(conn.getresponse()), sent
        finally:
            conn.close()


def _readable(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])


def _answer(response: http.client.HTTPResponse) -> Answer:
    cookies = {}
    for value in response.headers.get_all("set-cookie") or []:
        name, _, rest = value.partition("=")
        cookies[name.strip()] = rest.split(";", 1)[0]
    headers = {k.lower(): v for k, v in response.getheaders()}
    return Answer(response.status, headers, cookies, response.read())


def login_form(server: LiveServer, headers: dict[str, str] | None = None) -> tuple[str, str]:
    """(the login form's token, its cookie) from GET /login."""
    page = server.request("GET", "/login", headers=headers)
    found = LOGIN_CSRF.search(page.text)
    assert found, page.status
    return found.group(1), page.cookies["attend_login_csrf"]


def try_login(
    server: LiveServer, username: str, password: str, headers: dict[str, str] | None = None
) -> Answer:
    """POST /login with a fresh form token (the same headers on both requests)."""
    from urllib.parse import urlencode

    token, cookie = login_form(server, headers)
    body = urlencode({"username": username, "password": password, "csrf_token": token})
    return server.request(
        "POST",
        "/login",
        body=body.encode(),
        headers={
            **(headers or {}),
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"attend_login_csrf={cookie}",
        },
    )


@contextmanager
def running_server(
    site: Any, tmp_path: Path, *options: str, env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """`attend review serve --port N OPTIONS` over `site`, until the block ends."""
    port = free_port()
    environment = {
        **os.environ,
        "ATTEND_HOME": str(site.home),
        "ATTEND_AGENCY_NAME": "Test County",
        **(env or {}),
    }
    environment.pop("ATTEND_DATABASE_URL", None)
    attend = Path(sys.executable).with_name("attend")
    log_path = tmp_path / f"server-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(attend), "review", "serve", "--port", str(port), *options],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(port, process.pid, log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited: {log_path.read_text()}")
            try:
                if server.request("GET", "/login").status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {log_path.read_text()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
