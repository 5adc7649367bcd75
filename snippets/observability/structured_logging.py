"""Structured logging: one JSON event per line, the request ID on every line,
and no secrets in any of them.

What it teaches: a `logging.Formatter` written from scratch that turns a record
into one JSON object on one line (an RFC 3339 UTC timestamp, the level, the
logger, the message, every extra field, the exception text), so a log shipper
can read each event without guessing where it ends; a handler that stamps every
record with the request ID the middleware keeps in a `contextvars` variable, on
a real loopback server; how that context reaches a thread pool (only when you
copy it) and asyncio tasks (copied for you); a redaction filter that removes
secrets and personal data a developer passed by mistake; and sampling that keeps
or drops whole requests.

Read first: the middleware page (`docs/application/middleware.md`, "Middleware
and request context"): this module builds on `snippets.application.middleware`
for its `request_id` middleware, `request_id_var` and `RequestIdFilter`, and on
`snippets.application.app_core` for the server.

What it leaves out: shipping logs (files, rotation, journald, a collector such
as Fluent Bit or the OpenTelemetry Collector), a non-blocking handler
(`logging.handlers.QueueHandler`), log schemas such as Elastic's ECS or the
OpenTelemetry log data model, and a redaction that can be trusted alone: it is a
net under the real rule, which is not to hand secrets to a logger at all.

Run it: `python -m snippets.observability.structured_logging`.
"""

from __future__ import annotations

# --8<-- [start:formatter]
import json
import logging
import traceback
from datetime import UTC, datetime
from types import TracebackType

# What every LogRecord has; any other attribute is an extra field.
STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def rfc3339(created: float) -> str:
    """A record's creation time, in UTC, as RFC 3339 to the microsecond."""
    when = datetime.fromtimestamp(created, tz=UTC)
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def traceback_text(exc_info: ExcInfo) -> str:
    """An exception and its traceback, as `logging.Formatter` writes them."""
    return "".join(traceback.format_exception(*exc_info)).removesuffix("\n")


class JsonLineFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        event = {
            "timestamp": rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in STANDARD and not key.startswith("_"):
                event.setdefault(key, value)  # an extra cannot forge "level"
        if record.exc_info and not record.exc_text:
            record.exc_text = traceback_text(record.exc_info)
        if record.exc_text:
            event["exception"] = record.exc_text
        if record.stack_info:
            event["stack"] = self.formatStack(record.stack_info)
        # A newline inside a string becomes \n: one event, one line. The \u
        # escapes keep a lone surrogate writable to a UTF-8 stream.
        return json.dumps(event, default=str, ensure_ascii=True)


# --8<-- [end:formatter]


# --8<-- [start:redact]
import re
from typing import Any

REDACTED = "[REDACTED]"
# A field with one of these words in its name holds a secret, whatever its
# value looks like ("db_password", "Set-Cookie", "session_id").
NAMES = r"passw(?:or)?d|secret|token|api[_-]?key|authorization|cookie|session"
SECRET_NAME = re.compile(NAMES, re.IGNORECASE)
# Secrets and personal data that free text can carry, in the order applied.
SECRET_TEXT = [
    # an Authorization value: "Bearer <token>", "Basic <base64>"
    (re.compile(r"\b(Bearer|Basic)\s+[\w.~+/=-]+", re.I), rf"\1 {REDACTED}"),
    # a JWT: three base64url parts, the first starts '{"' = "eyJ"
    (re.compile(r"\beyJ[\w-]*\.[\w-]*\.[\w-]*"), REDACTED),
    # the password in https://user:password@host
    (re.compile(r"(://[^/\s:@]+:)[^/\s@]+@"), rf"\1{REDACTED}@"),
    # name=value or "name": "value" for a secret name
    (
        re.compile(
            rf"((?:{NAMES})[\w-]*\"?\s*[=:]\s*\"?)(?!Bearer|Basic)[^\s&,;\"]+",
            re.I,
        ),
        rf"\1{REDACTED}",
    ),
    # an email address: personal data
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), REDACTED),
]


def scrub(text: str) -> str:
    """Replace every secret the patterns recognise in `text`."""
    for pattern, replacement in SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def scrub_field(name: str, value: Any) -> Any:
    """A field's value with secrets removed, looking inside dicts and lists."""
    if SECRET_NAME.search(name):
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: scrub_field(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_field("", item) for item in value]
    return value


class Redact(logging.Filter):
    """Removes secrets from a record's message, extra fields and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), None
        for key in record.__dict__.keys() - STANDARD:
            setattr(record, key, scrub_field(key, getattr(record, key)))
        if record.exc_info:  # an exception's message can quote a secret
            text = traceback_text(record.exc_info)
            record.exc_text, record.exc_info = text, None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


# --8<-- [end:redact]


# --8<-- [start:setup]
import contextlib
from collections.abc import Iterator
from typing import TextIO

from snippets.application.middleware import RequestIdFilter


@contextlib.contextmanager
def json_logging(
    stream: TextIO, level: int = logging.INFO
) -> Iterator[logging.Handler]:
    """Send every logger's records at `level` and up to `stream` as JSON
    lines, each with the request ID and without secrets."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    # On the handler, not a logger: a logger's filters never see the records
    # its children pass up to it.
    handler.addFilter(RequestIdFilter())
    handler.addFilter(Redact())
    root, saved = logging.getLogger(), logging.getLogger().level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)


# --8<-- [end:setup]


# --8<-- [start:app]
import contextvars
from concurrent.futures import ThreadPoolExecutor

from snippets.application.app_core import TIMEOUT, Request, Response, text

shop = logging.getLogger("shop")


def price(item: str) -> int:
    """Runs in a pool thread; its log line still carries the request ID."""
    shop.info("pricing %s", item)
    return len(item)


def checkout(request: Request) -> Response:
    items = request.query.get("item", [])
    shop.info("checkout started", extra={"items": items})
    with ThreadPoolExecutor(max_workers=2) as pool:
        # each task runs in its own copy of this request's context
        jobs = [
            pool.submit(contextvars.copy_context().run, price, item)
            for item in items
        ]
        total = sum(job.result(TIMEOUT) for job in jobs)
    shop.info("checkout done", extra={"items": items, "total": total})
    return text(f"{total}\n")


# --8<-- [end:app]


# --8<-- [start:threads]
from snippets.application.middleware import request_id_var


def seen_in_a_pool() -> dict[str, str]:
    """What a pool task sees of the request ID, with and without a copy."""
    token = request_id_var.set("req-7")
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            bare = pool.submit(request_id_var.get)
            copied = pool.submit(
                contextvars.copy_context().run, request_id_var.get
            )
            return {"bare": bare.result(TIMEOUT), "copied": copied.result()}
    finally:
        request_id_var.reset(token)


def leaks_to_the_next_task() -> str:
    """A task that sets a variable without a copy changes its worker's own
    context, and the next task on that worker reads it."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(request_id_var.set, "req-8").result(TIMEOUT)
        return pool.submit(request_id_var.get).result(TIMEOUT)


# --8<-- [end:threads]


# --8<-- [start:tasks]
import asyncio


async def seen_in_tasks() -> dict[str, str]:
    """What code started from a coroutine sees of the request ID."""
    request_id_var.set("req-9")  # in asyncio.run's own copy of the context

    async def child() -> str:
        return request_id_var.get()

    loop = asyncio.get_running_loop()
    return {
        "task": await asyncio.create_task(child()),
        "to_thread": await asyncio.to_thread(request_id_var.get),
        "run_in_executor": await loop.run_in_executor(None, request_id_var.get),
    }


# --8<-- [end:tasks]


# --8<-- [start:sampling]
import zlib


class SampleRequests(logging.Filter):
    """Keeps every WARNING and above; below that, keeps all the lines of a
    `rate` share of requests, chosen by a hash of the request ID."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        # crc32, not hash(): str hashes change with every process
        digest = zlib.crc32(request_id_var.get().encode())
        return digest % 10_000 < self.rate * 10_000


# --8<-- [end:sampling]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_formatter]
    formatter = JsonLineFormatter()
    shop = logging.getLogger("shop")  # the shop's logger, used again below
    record = shop.makeRecord(
        "shop", logging.INFO, "shop.py", 1, "paid %s", ("order 7",), None,
        extra={"order_id": 7, "amount": 12.5},
    )
    record.created = 1_700_000_000.25
    for key, value in json.loads(formatter.format(record)).items():
        print(f"{key}: {value}")
        #> timestamp: 2023-11-14T22:13:20.250000Z
        #> level: INFO
        #> logger: shop
        #> message: paid order 7
        #> order_id: 7
        #> amount: 12.5
    # --8<-- [end:demo_formatter]

    # --8<-- [start:demo_exception]
    import sys

    try:
        {}["missing"]
    except KeyError:
        record = shop.makeRecord(
            "shop", logging.ERROR, "shop.py", 1, "lookup failed", (),
            sys.exc_info(),
        )
    line = formatter.format(record)
    event = json.loads(line)
    print(line.count("\n"), event["exception"].splitlines()[-1])
    #> 0 KeyError: 'missing'
    # --8<-- [end:demo_exception]

    # --8<-- [start:demo_redact]
    careless = shop.makeRecord(
        "shop", logging.INFO, "shop.py", 1, "login %s with %s", (
            "ada@example.com", "Authorization: Bearer abc.def",
        ), None, extra={"headers": {"Cookie": "sid=42"}, "db_password": "x"},
    )
    Redact().filter(careless)
    for key, value in json.loads(formatter.format(careless)).items():
        if key not in ("timestamp", "level", "logger"):
            print(f"{key}: {value}")
            #> message: login [REDACTED] with Authorization: Bearer [REDACTED]
            #> headers: {'Cookie': '[REDACTED]'}
            #> db_password: [REDACTED]
    # --8<-- [end:demo_redact]

    # --8<-- [start:demo_server]
    import io

    from snippets.application.app_core import call, serving, stack
    from snippets.application.middleware import request_id


    def buy(server, n: int) -> str:
        target = f"/checkout?item=a{n}&item=bb{n}"
        headers = [("X-Request-ID", f"req-{n}")]
        return call(server, "GET", target, headers=headers).header(
            "X-Request-ID"
        )

    out = io.StringIO()
    app = stack(checkout, request_id)
    with (
        json_logging(out),
        serving(app) as server,
        ThreadPoolExecutor(max_workers=20) as clients,
    ):
        ids = list(clients.map(lambda n: buy(server, n), range(20)))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    print(len(events), ids[3], {e["request_id"] for e in events} == set(ids))
    #> 80 req-3 True
    mine = [e["message"] for e in events if e["request_id"] == "req-3"]
    print(sorted(mine))
    #> ['checkout done', 'checkout started', 'pricing a3', 'pricing bb3']
    # --8<-- [end:demo_server]

    # --8<-- [start:demo_threads]
    print(seen_in_a_pool())
    #> {'bare': '-', 'copied': 'req-7'}
    print(leaks_to_the_next_task())
    #> req-8
    # --8<-- [end:demo_threads]

    # --8<-- [start:demo_tasks]
    print(asyncio.run(seen_in_tasks()))
    #> {'task': 'req-9', 'to_thread': 'req-9', 'run_in_executor': '-'}
    print(request_id_var.get())
    #> -
    # --8<-- [end:demo_tasks]

    # --8<-- [start:demo_sampling]
    sampler = SampleRequests(rate=0.1)
    info = logging.makeLogRecord({"levelno": logging.INFO})
    error = logging.makeLogRecord({"levelno": logging.ERROR})
    kept = errors_kept = 0
    for n in range(10_000):
        token = request_id_var.set(f"req-{n}")
        kept += sampler.filter(info)
        errors_kept += sampler.filter(error)
        request_id_var.reset(token)
    print(f"info kept for {kept / 10_000:.1%}, errors for {errors_kept}")
    #> info kept for 10.0%, errors for 10000
    # --8<-- [end:demo_sampling]
