"""Errors and failure modes: what can go wrong in a call, and which failures to
retry.

What it teaches: a call to another service fails in a few distinct ways, and
each one tells you something different. A refused connection means nothing was
sent, so any request may be sent again. A timeout or a connection lost after the
request went out leaves you not knowing whether the server acted, so only a
request that is safe to repeat may be. The faults are made for real on loopback:
a closed port, a server that resets the connection (SO_LINGER 0), one that never
answers, one that cuts the body short. On the server side, an exception becomes
a 500 with a problem document that says nothing about the internals, while the
log keeps the details.

Read first: the middleware page (`docs/application/middleware.md`, "Middleware
and request context"): its `errors` middleware is the server side shown here, so
this module builds on `snippets.application.middleware`.

What it leaves out: TLS errors, DNS failures, errors inside HTTP/2 streams, and
what to answer instead of an error (fallbacks, the circuit-breaker page).

Run it: `python -m snippets.reliability.errors`.
"""

# --8<-- [start:faults]
import socket
import socketserver
import struct
import threading


class FaultHandler(socketserver.BaseRequestHandler):
    """Reads a request, then misbehaves the way the server's `fault` says."""

    def handle(self) -> None:
        sock, fault = self.request, self.server.fault
        sock.settimeout(5)  # the demo's own bound: nothing waits for ever
        sock.recv(65536)
        if fault == "reset":  # close with SO_LINGER 0: the kernel sends RST
            linger = struct.pack("ii", 1, 0)  # on, zero seconds
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        elif fault == "stall":  # never answer (until the demo lets go)
            self.server.release.wait(5)
        elif fault == "cut":  # promise 100 bytes, send 10, close
            head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
            sock.sendall(head + b"0123456789")


class FaultServer(socketserver.ThreadingTCPServer):
    """A server on a free loopback port with one fault: reset, stall or cut."""

    def __init__(self, fault: str) -> None:
        super().__init__(("127.0.0.1", 0), FaultHandler)
        self.fault, self.release = fault, threading.Event()

    def __enter__(self) -> "FaultServer":
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()  # joins the handler threads


def closed_port() -> tuple[str, int]:
    """An address nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()


# --8<-- [end:faults]


# --8<-- [start:classify]
import http.client
from dataclasses import dataclass

IDEMPOTENT = {
    "GET",
    "HEAD",
    "OPTIONS",
    "TRACE",
    "PUT",
    "DELETE",
}  # RFC 9110 9.2.2


@dataclass(frozen=True)
class Failure:
    kind: str  # "refused", "timeout" or "lost"
    sent: bool  # could the server have received the request?


def classify(error: Exception) -> Failure:
    """What a failed call's exception tells us about what happened."""
    if isinstance(error, ConnectionRefusedError):
        return Failure("refused", sent=False)  # no connection, no request
    if isinstance(error, TimeoutError):
        return Failure("timeout", sent=True)
    if isinstance(error, (ConnectionError, http.client.IncompleteRead)):
        return Failure("lost", sent=True)  # reset, closed early, body cut
    raise error  # not a transport failure: a bug, let it surface


def may_retry(method: str, failure: Failure) -> bool:
    """Unsent requests may always go again; sent ones if repeating is safe."""
    return not failure.sent or method in IDEMPOTENT


# --8<-- [end:classify]


# --8<-- [start:fetch]
def fetch(address: tuple[str, int], method: str = "GET") -> Failure | int:
    """Make one call; the status if it answered, else how it failed."""
    connection = http.client.HTTPConnection(*address, timeout=0.5)
    try:
        connection.request(method, "/")
        response = connection.getresponse()
        response.read()
        return response.status
    except (
        Exception
    ) as error:  # classify re-raises what is not a transport failure
        return classify(error)
    finally:
        connection.close()


# --8<-- [end:fetch]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_faults]
    print(fetch(closed_port()))
    #> Failure(kind='refused', sent=False)
    for fault in ("reset", "stall", "cut"):
        with FaultServer(fault) as server:
            print(fault, fetch(server.server_address, "POST"))
            #> reset Failure(kind='lost', sent=True)
            #> stall Failure(kind='timeout', sent=True)
            #> cut Failure(kind='lost', sent=True)
    # --8<-- [end:demo_faults]

    # --8<-- [start:demo_retry]
    lost = Failure("lost", sent=True)
    refused = Failure("refused", sent=False)
    print(may_retry("POST", refused), may_retry("POST", lost))
    #> True False
    timeout = Failure("timeout", sent=True)
    print(may_retry("PUT", lost), may_retry("GET", timeout))
    #> True True
    # --8<-- [end:demo_retry]

    # --8<-- [start:demo_server]
    from snippets.application.app_core import Request, Response, call, serving
    from snippets.application.middleware import errors, log_lines


    def report(request: Request) -> Response:
        rows = {"alice": 3}
        return Response(200, str(rows["bob"]).encode())  # a bug: KeyError

    with log_lines() as logged, serving(errors(report)) as server:
        reply = call(server, "GET", "/report")
    print(reply.status, reply.header("Content-Type"))
    #> 500 application/problem+json
    print("KeyError" in reply.body.decode(), logged)
    #> False ['ERROR [-] unhandled error in GET /report']
    # --8<-- [end:demo_server]
