"""The orders service under load: its peak, three open-loop runs at 25, 50
and 75% of it, a cross-check with wrk, and the same application under
gunicorn, compared request by request and in throughput.

What it teaches: how to load-test a whole service honestly with the tools of
the performance chapter. The peak comes from a closed loop and is checked
against wrk; each run then offers a fixed rate in an open loop, measures
latency from the planned send time, and reads p50, p99 and p99.9 from an
HdrHistogram. Before comparing two servers' speed, check that they give the
same answers: a faster server that answers differently is not faster.

Read first: the load testing page (`docs/performance/load_testing.md`),
whose `peak`, `wrk_peak` and `open_run` this module builds on
(`snippets.performance.load_testing`), and the graceful shutdown page, which
runs gunicorn the same way.

What it leaves out: keep-alive connections (every request opens one, wrk
included), runs long enough to see a slow leak, and a load machine apart from
the server's: here both share the same cores, which the page says.

Run it: `python -m snippets.capstone.load` (`--table` prints the table).
"""

from __future__ import annotations

# --8<-- [start:runs]
from dataclasses import dataclass

from snippets.performance.load_testing import Run, open_run, peak

SHARES = (0.25, 0.50, 0.75)  # of the measured peak


@dataclass(frozen=True)
class Row:
    share: float
    offered: float  # requests a second, planned
    achieved: float  # good answers a second
    p50: float  # milliseconds, from the planned send time
    p99: float
    p999: float
    errors: int


def row(share: float, run: Run) -> Row:
    h = run.histogram()
    p50, p99, p999 = (
        h.get_value_at_percentile(p) / 1000 for p in (50, 99, 99.9)
    )
    return Row(share, run.offered, run.achieved(), p50, p99, p999, run.errors())


def load_table(address, seconds: float = 1.0, warmup: float = 0.25):
    """The closed-loop peak, then one open run per share of it."""
    most = peak(address, seconds=seconds)
    return most, [
        row(share, open_run(address, share * most, seconds, warmup))
        for share in SHARES
    ]


def markdown(most: float, rows: list[Row]) -> str:
    lines = [
        f"peak (closed loop, 4 clients): {most:.0f} requests/s",
        "",
        "| load | offered/s | achieved/s | p50 ms | p99 ms | p99.9 ms"
        " | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.share:.0%} | {r.offered:.0f} | {r.achieved:.0f} |"
            f" {r.p50:.1f} | {r.p99:.1f} | {r.p999:.1f} | {r.errors} |"
        )
    return "\n".join(lines)


# --8<-- [end:runs]


# --8<-- [start:servers]
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from snippets.capstone.dependency import spawned

UNLIMITED = ("--rate", "1e9", "--burst", "1000000000")  # measure, not limit


@contextlib.contextmanager
def ours() -> Iterator[tuple[tuple[str, int], str]]:
    """The service, rate limit out of the way, logging to a file: its
    address and the token it printed."""
    with tempfile.TemporaryDirectory() as folder:
        log = ("--log", f"{folder}/log.jsonl")
        with spawned("snippets.capstone", *UNLIMITED, *log) as service:
            token = service.process.stdout.readline().split()[-1]
            yield service.address, token


@contextlib.contextmanager
def gunicorn(
    dependency: tuple[str, int], secret: str, threads: int = 16
) -> Iterator[tuple[str, int]]:
    """The same application under gunicorn 27 (one gthread worker)."""
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "CAPSTONE_FOLDER": folder,
            "CAPSTONE_DEPENDENCY": "{}:{}".format(*dependency),
            "CAPSTONE_SECRET": secret,
        }
        command = [sys.executable, "-m", "gunicorn", "--worker-class"]
        command += ["gthread", "--workers", "1", "--threads", str(threads)]
        command += ["--no-control-socket", "--bind", "127.0.0.1:0"]
        command += [  # the same limits as `ours`: out of the way
            "snippets.capstone.server:gunicorn_app(rate=1e9, burst=1000000000)"
        ]
        with open(f"{folder}/err.log", "w+") as err:
            process = subprocess.Popen(command, env=env, stderr=err)
            try:
                yield wait_for_gunicorn(err, process)
            finally:
                process.terminate()
                process.wait(timeout=15)


def wait_for_gunicorn(err, process, within: float = 20.0) -> tuple[str, int]:
    end = time.monotonic() + within
    while time.monotonic() < end and process.poll() is None:
        err.seek(0)
        if found := re.search(
            r"Listening at: http://([\d.]+):(\d+)", err.read()
        ):
            return found[1], int(found[2])
        time.sleep(0.05)
    raise RuntimeError("gunicorn did not start")


# --8<-- [end:servers]


# --8<-- [start:same]
import json
from types import SimpleNamespace

from snippets.application.app_core import call


def answers(address, token: str) -> list[tuple[int, str | None, object]]:
    """The same requests, in order; (status, type, body without the
    per-response `instance` and `id` members)."""
    target = SimpleNamespace(server_address=address)  # what `call` reads
    bearer = ("Authorization", f"Bearer {token}")
    kind = ("Content-Type", "application/json")
    key = ("Idempotency-Key", '"same-answers-1"')
    good = b'{"item": "cup", "quantity": 3}'
    requests = [
        ("GET", "/", b"", []),
        ("POST", "/orders", good, [kind, key]),  # no token: 401
        ("POST", "/orders", good, [bearer, kind, key]),
        ("POST", "/orders", good, [bearer, kind, key]),  # a retry
        ("POST", "/orders", b'{"item": 7}', [bearer, kind, key]),
        ("POST", "/orders", b"{", [bearer, kind, ("Idempotency-Key", '"b"')]),
        ("GET", "/orders/1", b"", []),
        ("GET", "/orders/99", b"", []),
        ("DELETE", "/orders/1", b"", [bearer]),
    ]
    found = []
    for method, path, body, headers in requests:
        reply = call(target, method, path, body, headers)
        document = json.loads(reply.body) if reply.body else None
        if isinstance(document, dict):
            document.pop("instance", None)
        found.append((reply.status, reply.header("Content-Type"), document))
    return found


# --8<-- [end:same]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    with ours() as (address, _token):
        most, rows = load_table(address)
    if "--table" in sys.argv:
        print(markdown(most, rows))
    near = all(abs(r.achieved / r.offered - 1) < 0.15 for r in rows)
    print("each run achieved within 15% of its offered rate:", near)
    #> each run achieved within 15% of its offered rate: True
    print("errors:", sum(r.errors for r in rows))
    #> errors: 0
    # --8<-- [end:demo]
