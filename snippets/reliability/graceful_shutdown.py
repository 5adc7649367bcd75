"""Graceful shutdown: on SIGTERM, stop taking work, finish what was taken, exit.

What it teaches: a deploy, a scale-down or a node drain stops a server with
SIGTERM, and gives it a grace period before SIGKILL. In that time the server
says it is no longer ready (so the balancer stops sending), stops accepting
(the port refuses new connections), closes keep-alive connections that sit
idle, lets every request in flight finish and answers it with
`Connection: close`, then exits with status 0. A request that outlives the grace
period is abandoned, and the exit status says so. The same application runs
under gunicorn, whose graceful shutdown the tests compare with ours.

Read first: the app_core page (`docs/application/app_core.md`, "The
application core"), whose handlers this server runs, and the HTTP/1.1 messages
page (`docs/communication/http_messages.md`, "HTTP/1.1 messages"), whose
message server and its `Drain` this module builds on
(`snippets.communication.http_messages.message_server`).

What it leaves out: SIGINT and SIGHUP (reload), handing the listening socket
to a new process without dropping a connection (gunicorn's USR2, systemd
socket activation), closing long-lived streams (WebSocket, SSE) with a goodbye
message, and flushing logs and metrics before exit.

Run it: `python -m snippets.reliability.graceful_shutdown`.
"""

from __future__ import annotations

# --8<-- [start:server]
import threading
import time

from snippets.application.app_core import MAX_BODY, TIMEOUT, Handler, adapt
from snippets.communication.http_messages import message_server as wire
from snippets.communication.http_messages.message_parser import Limits


class GracefulServer(wire.MessageServer):
    """The message server, counting the connections it is still serving."""

    def __init__(self, app: Handler, timeout: float = TIMEOUT) -> None:
        super().__init__(adapt(app), Limits(max_body=MAX_BODY), timeout)
        self.idle = threading.Condition(self.lock)
        self.active = 0  # connections being served; guarded by self.lock

    def process_request_thread(self, request, client_address) -> None:
        with self.lock:
            self.active += 1
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.lock:
                self.active -= 1
                self.idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no connection is left; False if `timeout` s passed."""
        with self.lock:
            return self.idle.wait_for(lambda: self.active == 0, timeout)


# --8<-- [end:server]


# --8<-- [start:shutdown]
def shut_down(
    server: GracefulServer,
    serving: threading.Thread,
    ready: threading.Event,
    grace: float,
    announce: float = 0.0,
) -> bool:
    """Stop `server` gracefully; True if all requests ended within `grace`."""
    end = time.monotonic() + grace
    ready.clear()  # 1. /readyz answers 503: balancers stop sending new work
    time.sleep(announce)  # ... after they have had time to notice
    server.shutdown()  # 2. stop calling accept(): serve_forever returns
    serving.join(timeout=grace)
    server.socket.close()  # the port now refuses new connections
    server.drain.start()  # 3. idle connections close; busy ones after answering
    return server.wait_idle(end - time.monotonic())  # 4. wait for the rest


# --8<-- [end:shutdown]


# --8<-- [start:app]
from snippets.application.app_core import Request, Response, problem, text


def service(ready: threading.Event) -> Handler:
    """The demo's application: slow work, health for the balancer, and how
    many requests are working right now (for the demo and the tests)."""
    lock, working = threading.Lock(), [0]  # working[0]: inside /work now

    def handler(request: Request) -> Response:
        if request.path == "/livez":  # the process works: do not restart it
            return text("ok\n")
        if request.path == "/readyz":  # send me work
            if ready.is_set():
                return text("ready\n")
            return problem(503, "shutting down")
        if request.path == "/working":
            return text(f"{working[0]}\n")
        seconds = min(float(request.query.get("seconds", ["0"])[-1]), 10.0)
        with lock:
            working[0] += 1
        try:
            time.sleep(seconds)  # the work of a slow request
        finally:
            with lock:
                working[0] -= 1
        return text(f"slept {seconds}\n")

    return handler


# --8<-- [end:app]


# --8<-- [start:main]
import signal
import sys


def main(grace: float, announce: float) -> int:
    """Serve until SIGTERM, then shut down gracefully; the exit status."""
    # The kernel hands a signal to any thread that does not block it. Block
    # SIGTERM here, before any thread starts (they inherit the mask), and wait
    # for it in this one place.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    ready = threading.Event()
    server = GracefulServer(service(ready))
    serving = threading.Thread(target=server.serve_forever, args=(0.05,))
    serving.start()
    ready.set()
    print("listening on {}:{}".format(*server.server_address), flush=True)
    signal.sigwait({signal.SIGTERM})
    if shut_down(server, serving, ready, grace, announce):
        server.server_close()  # every connection thread has ended: join them
        print("drained", flush=True)
        return 0
    print("grace period over; abandoning requests", flush=True)
    return 1  # the caller exits without joining the abandoned threads


# --8<-- [end:main]


# --8<-- [start:wsgi]
from http import HTTPStatus
from urllib.parse import parse_qs


def as_wsgi(app: Handler):
    """The same application as a WSGI callable (PEP 3333), for gunicorn."""

    def wsgi(environ, start_response):
        headers = [
            (key[5:].replace("_", "-").title(), value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        ]
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):  # PEP 3333: no HTTP_
            if environ.get(key):
                headers.append((key.replace("_", "-").title(), environ[key]))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        path = environ.get("PATH_INFO", "/").encode("latin-1").decode()
        query = parse_qs(environ.get("QUERY_STRING", ""), True)  # keep blanks
        body = environ["wsgi.input"].read(length)
        method = environ["REQUEST_METHOD"]
        response = app(Request(method, path, query, headers, body))
        phrase = HTTPStatus(response.status).phrase
        # PEP 3333: no hop-by-hop fields from the application; the length, so
        # that the server need not chunk the body.
        fields = [
            (name, value)
            for name, value in response.headers
            if name.lower() not in wire.FRAMING
        ]
        fields.append(("Content-Length", str(len(response.body))))
        start_response(f"{response.status} {phrase}", fields)
        return [response.body]

    return wsgi


def gunicorn_app():
    """`gunicorn 'snippets.reliability.graceful_shutdown:gunicorn_app()'`."""
    ready = threading.Event()
    ready.set()  # gunicorn has no readiness hook of its own to flip
    return as_wsgi(service(ready))


# --8<-- [end:wsgi]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    # python -m snippets.reliability.graceful_shutdown serve GRACE ANNOUNCE
    status = main(float(sys.argv[2]), float(sys.argv[3]))
    # os._exit: a thread still serving after the grace period must not hold
    # the process open; the logs and the answers sent so far are flushed.
    import os

    os._exit(status)
elif __name__ == "__main__":
    # --8<-- [start:demo]
    import http.client
    import socket
    import subprocess
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor


    def get(address, target: str) -> tuple[int, str | None, bytes]:
        conn = http.client.HTTPConnection(*address, timeout=10)
        try:
            conn.request("GET", target)
            reply = conn.getresponse()
            return reply.status, reply.getheader("Connection"), reply.read()
        finally:
            conn.close()


    def refuses(address, within: float) -> bool:
        """Whether a new connection is refused, trying for `within` s."""
        end = time.monotonic() + within
        while time.monotonic() < end:
            try:
                socket.create_connection(address, timeout=1).close()
            except ConnectionRefusedError:
                return True
            except (ConnectionResetError, TimeoutError):
                pass  # queued in the moment before the close, then reset
            time.sleep(0.01)
        return False


    me = "snippets.reliability.graceful_shutdown"
    command = [sys.executable, "-m", me, "serve", "5", "0"]  # grace: 5 s
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        host, port = server.stdout.readline().split()[-1].split(":")
        address = (host, int(port))
        with ThreadPoolExecutor(max_workers=20) as pool:
            calls = [pool.submit(get, address, "/work?seconds=1")
                     for _ in range(20)]
            end = time.monotonic() + 5
            while get(address, "/working")[2] != b"20\n":  # all 20 at work
                assert time.monotonic() < end, "the requests never started"
            server.send_signal(signal.SIGTERM)
            refused = refuses(address, within=1.0)
            replies = Counter(call.result() for call in calls)
        status = server.wait(timeout=10)
        print(server.stdout.read().strip(), "exit status", status)
        #> drained exit status 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
        server.stdout.close()
    print(replies)
    #> Counter({(200, 'close', b'slept 1.0\n'): 20})
    print("a new connection is refused:", refused)
    #> a new connection is refused: True
    # --8<-- [end:demo]
