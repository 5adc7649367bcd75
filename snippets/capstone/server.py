"""The orders service as a process: start the pricing dependency, build the
application, serve it on loopback, and drain on SIGTERM; and the same
application as a WSGI callable for gunicorn.

What it teaches: the last layer is a process that a supervisor (systemd,
Kubernetes) starts and stops. `main` prints its address and a bearer token,
serves until SIGTERM, then says it is not ready (`/readyz` answers 503), stops
accepting, lets every accepted request finish, stops the outbox worker and
exits with status 0, or 1 if the grace period ran out. `gunicorn_app` hands
the very same handler to gunicorn through the graceful shutdown page's WSGI
adapter, so a test can send both servers the same requests.

Read first: the graceful shutdown page (`docs/reliability/graceful_shutdown.md`,
"Graceful shutdown"), whose `GracefulServer`, `shut_down` and `as_wsgi` this
module builds on (`snippets.reliability.graceful_shutdown`), and the capstone's
`app`.

What it leaves out: reading settings from the environment or a file (beyond
gunicorn's), several processes behind a balancer, and log rotation.

Run it: `python -m snippets.capstone` (or `python -m snippets.capstone.server`
for a bounded demo).
"""

from __future__ import annotations

# --8<-- [start:main]
import argparse
import contextlib
import logging
import secrets
import signal
import sys
import tempfile
import threading

from snippets.capstone.app import Config, build, token_for
from snippets.capstone.dependency import spawned
from snippets.capstone.telemetry import json_logs
from snippets.reliability.graceful_shutdown import GracefulServer, shut_down

GRACE = 10.0  # seconds to finish accepted requests after SIGTERM


def options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m snippets.capstone")
    parser.add_argument("--folder", help="where the databases live")
    parser.add_argument("--log", help="a file for the JSON log lines")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--burst", type=int, default=400)
    parser.add_argument("--delay", type=float, default=0.0)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Serve until SIGTERM, then drain; the exit status."""
    stops = {signal.SIGTERM, signal.SIGINT}  # kill, and Ctrl-C in a terminal
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)  # see the page
    args = options(argv)
    with contextlib.ExitStack() as stack:
        folder = args.folder or stack.enter_context(
            tempfile.TemporaryDirectory()
        )
        log = sys.stderr
        if args.log:  # closed last, after the drain's log lines
            log = stack.enter_context(open(args.log, "a"))
        stack.enter_context(json_logs(log))
        pricing = stack.enter_context(
            spawned("snippets.capstone.dependency", "serve")
        )
        if args.delay:
            from snippets.capstone.dependency import set_delay

            set_delay(pricing.address, args.delay)
        secret = secrets.token_bytes(32)
        config = Config(folder, pricing.address, secret, args.rate, args.burst)
        service = build(config)
        stack.callback(service.close)  # after the drain: stop the worker
        server = GracefulServer(service.handler)
        serving = threading.Thread(target=server.serve_forever, args=(0.05,))
        serving.start()
        print("listening on {}:{}".format(*server.server_address))
        print(f"token {token_for('reader', secret)}", flush=True)
        name = signal.Signals(signal.sigwait(stops)).name
        service.health.draining.set()  # /readyz: 503 from now on
        logging.getLogger("capstone").info("%s: draining", name)
        if not shut_down(server, serving, threading.Event(), GRACE):
            print("grace period over; abandoning requests", flush=True)
            return 1
        server.server_close()
        print("drained", flush=True)
        return 0


# --8<-- [end:main]


# --8<-- [start:wsgi]
import os

from snippets.reliability.graceful_shutdown import as_wsgi


def gunicorn_app(rate: float = 200.0, burst: int = 400):
    """`gunicorn 'snippets.capstone.server:gunicorn_app()'`, configured by
    CAPSTONE_FOLDER, CAPSTONE_DEPENDENCY (host:port) and CAPSTONE_SECRET."""
    host, port = os.environ["CAPSTONE_DEPENDENCY"].split(":")
    config = Config(
        os.environ["CAPSTONE_FOLDER"],
        (host, int(port)),
        os.environ["CAPSTONE_SECRET"].encode(),
        rate,
        burst,
        worker=False,  # a worker per gunicorn process would race: none here
    )
    return as_wsgi(build(config).handler)


# --8<-- [end:wsgi]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    import json
    from types import SimpleNamespace

    from snippets.application.app_core import call

    folder = tempfile.TemporaryDirectory()
    log_file = f"{folder.name}/log.jsonl"
    with spawned("snippets.capstone", "--log", log_file) as orders:
        token = orders.process.stdout.readline().split()[-1]
        target = SimpleNamespace(server_address=orders.address)
        print(call(target, "GET", "/readyz").status)
        #> 200
        orders.process.send_signal(signal.SIGTERM)
        status = orders.process.wait(timeout=GRACE + 5)
        print(orders.process.stdout.read().strip(), "exit status", status)
        #> drained exit status 0
    with open(log_file) as lines:
        print([json.loads(line)["message"] for line in lines])
        #> ['SIGTERM: draining']
    folder.cleanup()
    # --8<-- [end:demo]
