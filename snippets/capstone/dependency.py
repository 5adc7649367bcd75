"""The capstone's slow dependency: a pricing service in a second process, and
the helper that starts a process and reads the address it listens on.

What it teaches: a dependency that is a real process on loopback, not a
function call, so that its slowness costs the caller what a network call
costs: a connection, a thread waiting, a timeout. `GET /price` answers a price
in cents after a delay that a test changes at run time with `PUT /delay`, which
is how the game day slows the dependency down. `spawned` starts any
`python -m` module that prints `listening on HOST:PORT`, waits for that line
within a bound, and stops the process on exit: first SIGTERM, then SIGKILL.

Read first: the circuit breakers page (`docs/reliability/circuit_breakers.md`,
"Circuit breakers and bulkheads"), whose `ask` the orders service calls this
with. This module builds on `snippets.application.app_core` for the server.

What it leaves out: service discovery, TLS between services, and several
instances of the dependency behind a balancer.

Run it: `python -m snippets.capstone.dependency`.
"""

from __future__ import annotations

# --8<-- [start:pricing]
import threading
import time

from snippets.application.app_core import Request, Response, problem, text

PRICE_CENTS = 250  # every item costs the same: the price is not the lesson
MAX_DELAY = 10.0  # seconds: a delay a test sets is bounded too


def pricing_app() -> tuple[object, dict[str, float]]:
    """The pricing handler and its settings (`delay`, seconds per call)."""
    settings = {"delay": 0.0}  # written by PUT /delay, read by GET /price

    def handle(request: Request) -> Response:
        if (request.method, request.path) == ("PUT", "/delay"):
            try:
                delay = float(request.body)
            except ValueError:
                return problem(400, "send the delay in seconds")
            settings["delay"] = min(max(delay, 0.0), MAX_DELAY)
            return text(f"{settings['delay']}\n")
        if (request.method, request.path) == ("GET", "/price"):
            time.sleep(settings["delay"])  # a slow database, a slow network
            return text(f"{PRICE_CENTS}\n")
        return problem(404, f"no {request.method} {request.path}")

    return handle, settings


def serve_until_stdin_closes() -> None:
    """Serve on a free port, print it, and stop when stdin closes or on
    SIGTERM: a parent that dies takes its dependency with it."""
    import signal
    import sys

    from snippets.application.app_core import serving

    handler, _settings = pricing_app()
    done = threading.Event()
    # A parent that blocks SIGTERM (the orders service does, to wait for it)
    # passes the blocked mask on to its children: unblock it here.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    # Ctrl-C reaches the whole process group: the parent stops us after its
    # drain, since requests in flight may still need a price.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with serving(handler) as server:
        print("listening on {}:{}".format(*server.server_address), flush=True)
        watcher = threading.Thread(
            target=lambda: (sys.stdin.read(), done.set()), daemon=True
        )
        watcher.start()
        done.wait()


# --8<-- [end:pricing]


# --8<-- [start:spawned]
import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

LISTENING = re.compile(r"listening on ([\d.]+):(\d+)")
START_TIMEOUT = 20.0  # seconds a process may take to print its address


@dataclass
class Spawned:
    process: subprocess.Popen
    address: tuple[str, int]


@contextlib.contextmanager
def spawned(*args: str, stop_timeout: float = 10.0) -> Iterator[Spawned]:
    """Run `python -m <args>`, wait for its address, stop it on exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        timer = threading.Timer(START_TIMEOUT, process.kill)
        timer.start()  # a process that never prints is killed, not waited on
        try:
            while not (found := LISTENING.search(process.stdout.readline())):
                if process.poll() is not None:
                    raise RuntimeError(f"{args[0]} exited before listening")
        finally:
            timer.cancel()
        yield Spawned(process, (found[1], int(found[2])))
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=stop_timeout)
        for pipe in (process.stdin, process.stdout):
            pipe.close()


def set_delay(address: tuple[str, int], seconds: float) -> None:
    """Make the running dependency at `address` this slow."""
    from types import SimpleNamespace

    from snippets.application.app_core import call

    target = SimpleNamespace(server_address=address)  # what `call` reads
    reply = call(target, "PUT", "/delay", str(seconds).encode())
    if reply.status != 200:
        raise RuntimeError(f"the dependency answered {reply.status}")


# --8<-- [end:spawned]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    serve_until_stdin_closes()
elif __name__ == "__main__":
    # --8<-- [start:demo]
    from types import SimpleNamespace

    from snippets.reliability.circuit_breakers import ask

    with spawned("snippets.capstone.dependency", "serve") as pricing:
        target = SimpleNamespace(server_address=pricing.address)
        print("price:", ask(target))
        #> price: 250
        set_delay(pricing.address, 0.5)
        try:
            ask(target, timeout=0.1)
        except ConnectionError as error:
            print(error)
            #> the dependency did not answer in time
    print("stopped:", pricing.process.returncode is not None)
    #> stopped: True
    # --8<-- [end:demo]
