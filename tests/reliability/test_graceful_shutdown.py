"""What the graceful shutdown page claims, asserted on real processes that get a
real SIGTERM; gunicorn (gthread worker) runs the same application as the oracle.

Both servers must: finish all 50 requests in flight with their answers, close each
connection after its answer, serve no request that arrives after the signal, and
exit with status 0 inside the grace period. Where they differ (ours refuses a new
connection at once, gunicorn's worker keeps the listening socket until it exits,
so a late connection waits and is then reset), the page says so and the test for
that difference is ours alone.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest

from snippets.application.app_core import Request, Response
from snippets.application.app_core import text as text_response
from snippets.reliability.graceful_shutdown import as_wsgi
from tests.helpers import TIMEOUT

MODULE = "snippets.reliability.graceful_shutdown"
IN_FLIGHT = 50
WORK = 1.5  # seconds each request in flight works
GRACE = 10.0


class Server:
    """A server process on loopback: its address, and how it ended."""

    def __init__(self, process: subprocess.Popen, address: tuple[str, int]):
        self.process, self.address = process, address

    def terminate(self) -> float:
        """Send SIGTERM; the monotonic time it was sent."""
        sent = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        return sent


@contextlib.contextmanager
def started(command: list[str], pattern: str, stream: str) -> Iterator[Server]:
    """Start `command`, read its address from its output, kill it if it is left."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if stream == "stderr" else None,
        text=True,
    )
    try:
        output = getattr(process, stream)
        end = time.monotonic() + 30
        while not (match := re.search(pattern, line := output.readline())):
            assert line, "the server exited before it listened"
            assert time.monotonic() < end, "the server did not start"
        server = Server(process, (match[1], int(match[2])))
        wait_until(lambda: get(server.address, "/livez")[0] == 200)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=TIMEOUT)
        for pipe in (process.stdout, process.stderr):
            if pipe:
                pipe.close()


def ours(grace: float = GRACE, announce: float = 0.0):
    command = [sys.executable, "-m", MODULE, "serve", str(grace), str(announce)]
    return started(command, r"listening on ([\d.]+):(\d+)", "stdout")


def gunicorn(grace: float = GRACE):
    command = [
        *(sys.executable, "-m", "gunicorn", "--worker-class", "gthread"),
        *("--workers", "1", "--threads", "64", "--no-control-socket"),
        *("--graceful-timeout", str(round(grace)), "--bind", "127.0.0.1:0"),
        f"{MODULE}:gunicorn_app()",
    ]
    return started(command, r"Listening at: http://([\d.]+):(\d+)", "stderr")


def get(address, target: str, timeout: float = TIMEOUT) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        conn.request("GET", target)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def wait_until(condition, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            if condition():
                return
        assert time.monotonic() < end, "the condition never became true"
        time.sleep(0.01)


def work_until_closed(address) -> bytes:
    """GET /work on a kept-alive HTTP/1.1 connection; all bytes until the close."""
    request = f"GET /work?seconds={WORK} HTTP/1.1\r\nHost: test\r\n\r\n"
    with socket.create_connection(address, timeout=GRACE + TIMEOUT) as sock:
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(65536):  # the server must close, or this times out
            answer += chunk
    return answer


def connects(address) -> bool:
    """Whether a new connection is accepted (by the kernel, at least)."""
    try:
        socket.create_connection(address, timeout=1).close()
    except ConnectionRefusedError:
        return False
    return True


@pytest.mark.parametrize("serve", [ours, gunicorn], ids=["ours", "gunicorn"])
def test_sigterm_with_50_requests_in_flight_loses_none(serve) -> None:
    with serve() as server, ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
        calls = [
            pool.submit(work_until_closed, server.address) for _ in range(IN_FLIGHT)
        ]
        wait_until(lambda: get(server.address, "/working")[1] == b"%d\n" % IN_FLIGHT)
        sent = server.terminate()
        answers = [call.result(timeout=GRACE + TIMEOUT) for call in calls]
        status = server.process.wait(timeout=GRACE + TIMEOUT)
        took = time.monotonic() - sent
    body = b"slept %.1f\n" % WORK
    assert all(a.startswith(b"HTTP/1.1 200 ") for a in answers)
    assert [a.split(b"\r\n\r\n", 1)[1] for a in answers] == [body] * IN_FLIGHT
    assert status == 0
    assert took < GRACE / 2  # the work left (under WORK s), not the grace period


def test_ours_refuses_a_new_connection_at_once_and_says_close() -> None:
    with ours() as server, ThreadPoolExecutor(max_workers=1) as pool:
        call = pool.submit(work_until_closed, server.address)
        wait_until(lambda: get(server.address, "/working")[1] == b"1\n")
        sent = server.terminate()
        wait_until(lambda: not connects(server.address), timeout=WORK)
        refused_after = time.monotonic() - sent
        answer = call.result(timeout=GRACE)
        assert server.process.wait(timeout=GRACE) == 0
    assert refused_after < WORK / 3  # long before the request in flight ended
    assert b"\r\nConnection: close\r\n" in answer


def test_gunicorn_keeps_accepting_and_says_keep_alive_while_it_drains() -> None:
    # The difference the page states: gunicorn's master closes its listening
    # socket, but the worker holds a copy until it exits, so the kernel still
    # completes new connections; they are reset when the worker exits. Its
    # answers during the drain say keep-alive, and it closes the connection at
    # its keep-alive timeout.
    with gunicorn() as server, ThreadPoolExecutor(max_workers=1) as pool:
        call = pool.submit(work_until_closed, server.address)
        wait_until(lambda: get(server.address, "/working")[1] == b"1\n")
        server.terminate()
        end = time.monotonic() + 30
        while "Handling signal: term" not in server.process.stderr.readline():
            assert time.monotonic() < end, "gunicorn never logged the signal"
        accepted = [connects(server.address) for _ in range(5)]
        answer = call.result(timeout=GRACE)
        assert server.process.wait(timeout=GRACE) == 0
    assert accepted == [True] * 5
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nConnection: keep-alive\r\n" in answer  # ours says close


def test_ours_closes_an_idle_kept_alive_connection_at_once() -> None:
    with ours() as server:
        conn = http.client.HTTPConnection(*server.address, timeout=TIMEOUT)
        try:
            conn.request("GET", "/livez")
            conn.getresponse().read()  # kept alive, now idle
            sent = server.terminate()
            assert conn.sock.recv(1) == b""  # the server closed it
            closed_after = time.monotonic() - sent
        finally:
            conn.close()
        assert server.process.wait(timeout=GRACE) == 0
    assert closed_after < TIMEOUT / 5  # not at the idle timeout


def test_ours_fails_readiness_first_and_serves_while_it_announces() -> None:
    with ours(announce=1.0) as server:
        assert get(server.address, "/readyz")[0] == 200
        sent = server.terminate()
        wait_until(lambda: get(server.address, "/readyz")[0] == 503, timeout=1.0)
        during = get(server.address, "/work?seconds=0")
        announced = time.monotonic() - sent < 1.0
        assert server.process.wait(timeout=GRACE) == 0
    assert announced  # the 503 and the answer came inside the announcement
    assert during == (200, b"slept 0.0\n")


def test_ours_abandons_work_after_the_grace_period_and_exits_1() -> None:
    with ours(grace=0.5) as server, ThreadPoolExecutor(max_workers=1) as pool:
        call = pool.submit(work_until_closed, server.address)
        wait_until(lambda: get(server.address, "/working")[1] == b"1\n")
        sent = server.terminate()
        status = server.process.wait(timeout=GRACE)
        took = time.monotonic() - sent
        answer = call.result(timeout=GRACE)
        output = server.process.stdout.read()
    assert status == 1
    assert 0.5 <= took < WORK  # at the grace period, before the work was done
    assert answer == b""  # the client learns nothing but a closed connection
    assert "abandoning" in output


def test_signals_are_waited_for_in_one_thread() -> None:
    # The reason for sigwait: a handler-and-Event design hung in about one run in
    # six when the kernel delivered SIGTERM to a server thread. Ten runs in a
    # row must each end with status 0.
    for _ in range(10):
        with ours() as server:
            server.terminate()
            assert server.process.wait(timeout=TIMEOUT) == 0


def test_the_wsgi_adapter_gives_the_same_answers_as_our_server() -> None:
    targets = ["/livez", "/readyz", "/work?seconds=0", "/working", "/caf%C3%A9"]
    with ours() as a, gunicorn() as b:
        for target in targets:
            assert get(a.address, target) == get(b.address, target), target
        a.terminate()
        b.terminate()
        assert (a.process.wait(TIMEOUT), b.process.wait(TIMEOUT)) == (0, 0)


def test_as_wsgi_passes_pep_3333_validation_and_the_request_through() -> None:
    seen: list[Request] = []

    def app(request: Request) -> Response:
        seen.append(request)
        headers = [("Connection", "close"), ("X-Kind", "echo")]  # a hop-by-hop field
        return text_response("made\n", status=201, headers=headers)

    environ: dict = {}
    setup_testing_defaults(environ)
    environ.update(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/café".encode().decode("latin-1"),  # PEP 3333's bytes
            "QUERY_STRING": "a=1&a=2&b=",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": "2",
            "HTTP_X_TRACE": "abc",
            "wsgi.input": io.BytesIO(b"{}"),
        }
    )
    started = []
    result = validator(as_wsgi(app))(environ, lambda *args: started.append(args))
    try:
        body = b"".join(result)
    finally:
        result.close()
    [request] = seen
    assert (request.method, request.path, request.body) == ("POST", "/café", b"{}")
    assert request.query == {"a": ["1", "2"], "b": [""]}
    assert request.header("x-trace") == "abc"
    assert request.header("content-type") == "application/json"
    status, fields = started[0][:2]
    assert status == "201 Created"
    assert ("X-Kind", "echo") in fields
    assert ("Content-Length", "5") in fields
    assert not any(name.lower() == "connection" for name, _ in fields)
    assert body == b"made\n"
