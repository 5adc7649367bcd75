"""The charges service in a process of its own, that a test can kill.

What it teaches: a crash test needs a real process: `ServerProcess` starts the
charges service with `python -m`, reads its port from the first line it
prints, waits for it to say where it stopped, and kills it with SIGKILL, which
the process cannot catch. The demo kills it between the charge and the commit
and shows the retry charging once, after the dead request's lease runs out.

Read first: `charges_service` in this package, whose checkpoints this process
stops at; this module builds on
`snippets.reliability.idempotency.charges_service`.

What it leaves out: a server that restarts itself (a supervisor such as
systemd does that), and Windows, which has no SIGKILL.

Run it: `python -m snippets.reliability.idempotency.server_process`.
"""

# Shown by earlier blocks of the page; imported here so that this part runs
# alone. (`isort: split` keeps them apart from the imports shown below.)
import time

from snippets.application.app_core import TIMEOUT
from snippets.reliability.idempotency.charges_service import charges_app
from snippets.reliability.idempotency.key_store import LEASE

# isort: split
# --8<-- [start:process]
import os
import selectors
import subprocess
import sys
import threading

from snippets.application.app_core import serving


def serve(path: str, lease: float, pause_at: str | None) -> None:
    """Serve the charges app until stdin closes; stall at `pause_at`."""

    def checkpoint(point: str) -> None:
        if point == pause_at:  # stand still here until the test kills us
            print("paused at", point, flush=True)
            threading.Event().wait(60)

    app = charges_app(path, lease, checkpoint=checkpoint)
    with serving(app) as server:
        print("listening", server.server_address[1], flush=True)
        sys.stdin.read()  # until the parent closes our stdin


class ServerProcess:
    """The charges service in a process of its own, that a test can kill."""

    def __init__(
        self, path: str, lease: float = LEASE, pause_at: str | None = None
    ) -> None:
        module = "snippets.reliability.idempotency.server_process"
        command = [sys.executable, "-m", module]
        command += ["serve", path, str(lease), pause_at or "-"]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self._pending = b""
        try:
            port = self.expect("listening")
        except BaseException:
            self.kill()  # it never came up: leave nothing behind
            raise
        self.server_address = ("127.0.0.1", int(port))

    def expect(self, word: str, timeout: float = 4 * TIMEOUT) -> str:
        """Wait for the process's next line, which must start with `word`."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while b"\n" not in self._pending:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise TimeoutError(f"no {word!r} line in {timeout} s")
                data = os.read(self.process.stdout.fileno(), 4096)
                if not data:
                    raise EOFError(f"the server exited before {word!r}")
                self._pending += data
        line, self._pending = self._pending.split(b"\n", 1)
        first, _, rest = line.decode().partition(" ")
        if first != word:
            raise ValueError(f"expected {word!r}, got {line!r}")
        return rest

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, no goodbye, like a power cut."""
        self.process.kill()
        self.close()

    def close(self) -> None:
        """Close stdin (the server stops), reap it, close the pipes."""
        self.process.stdin.close()
        try:
            self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(TIMEOUT)
        self.process.stdout.close()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.returncode is None:
            self.close()


# --8<-- [end:process]


# The demo's `#>` lines are checked by the docs test; ruff format would
# rewrite them, so it stops here.
# fmt: off
if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    path, lease, pause_at = sys.argv[2], float(sys.argv[3]), sys.argv[4]
    serve(path, lease, None if pause_at == "-" else pause_at)
elif __name__ == "__main__":
    import contextlib
    import sqlite3
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    from snippets.application.app_core import call

    def count_charges(path: str) -> int:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return conn.execute("SELECT count(*) FROM charges").fetchone()[0]

    pay = b'{"amount_cents": 500}'
    # --8<-- [start:demo_crash]
    folder = tempfile.TemporaryDirectory()  # a new database for this demo
    path = os.path.join(folder.name, "charges.db")
    key = ("Idempotency-Key", '"c4a1f3de-2f7b-4e59-8c1d-7a9b0e6d5f21"')
    doomed = ServerProcess(path, lease=1.0, pause_at="charged")
    with doomed, ThreadPoolExecutor(1) as pool:
        attempt = pool.submit(call, doomed, "POST", "/charges", pay, [key])
        print(doomed.expect("paused"))  # inside the transaction
        #> at charged
        doomed.kill()
        print(type(attempt.exception()).__name__)
        #> RemoteDisconnected
    print(count_charges(path))  # the charge died with its transaction
    #> 0
    with ServerProcess(path, lease=1.0) as server:
        reply = call(server, "POST", "/charges", pay, [key])
        while reply.status == 409:  # until the dead request's lease runs out
            time.sleep(float(reply.header("Retry-After")))
            reply = call(server, "POST", "/charges", pay, [key])
        print(reply.status, reply.json(), count_charges(path))
        #> 201 {'id': 1, 'amount_cents': 500} 1
    folder.cleanup()
    # --8<-- [end:demo_crash]
