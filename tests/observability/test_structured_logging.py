"""What the structured logging page claims, asserted.

Oracle: python-json-logger 4.2's `JsonFormatter`, configured with the same
fields, formats the same generated records; both lines parse to the same
object. The two differ only where the page says: the spelling of the timestamp
(ours "Z" and always six digits of fraction, theirs "+00:00" and no fraction
when it is zero; both are RFC 3339 and parse to the same instant), an extra
field named like a standard one (ours keeps the standard value), and a dict
passed as the message (theirs merges its keys into the event).

The server check: 20 requests held in flight together by a barrier on a real
loopback server, each of whose log lines carries its own request ID.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pythonjsonlogger.json import JsonFormatter

from snippets.application.app_core import (
    TIMEOUT,
    Request,
    Response,
    call,
    serving,
    stack,
)
from snippets.application.middleware import request_id, request_id_var
from snippets.observability.structured_logging import (
    REDACTED,
    STANDARD,
    JsonLineFormatter,
    Redact,
    SampleRequests,
    checkout,
    json_logging,
    leaks_to_the_next_task,
    seen_in_a_pool,
    seen_in_tasks,
    shop,
)
from tests.helpers import JSON_VALUES

# The oracle, set up to write the fields ours writes, under the same names.
ORACLE = JsonFormatter(
    "%(levelname)s %(name)s %(message)s",
    rename_fields={
        "levelname": "level",
        "name": "logger",
        "exc_info": "exception",
        "stack_info": "stack",
    },
    timestamp=True,
)
OURS = JsonLineFormatter()
OUR_FIELDS = {"timestamp", "level", "logger", "message", "exception", "stack"}
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")

extra_names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(
    lambda name: name not in STANDARD | OUR_FIELDS
)


def make_record(
    name="shop", level=logging.INFO, msg="hello", args=(), exc=None, **extra
):
    """A record as a logger makes it, with extras and an optional exception."""
    exc_info = None
    if exc is not None:
        try:
            raise ValueError(exc)
        except ValueError:
            exc_info = sys.exc_info()
    sinfo = extra.pop("stack_info", None)
    return logging.getLogger(name).makeRecord(
        name, level, "shop.py", 7, msg, args, exc_info, extra=extra, sinfo=sinfo
    )


@st.composite
def records(draw) -> logging.LogRecord:
    args = draw(st.sampled_from([(), ("x",), (1, "y")]))
    template = {0: "", 1: " %s", 2: " %d of %r"}[len(args)]
    record = make_record(
        name=draw(st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8}){0,2}", fullmatch=True)),
        level=draw(st.sampled_from([10, 20, 30, 40, 50])),
        msg=draw(st.text(max_size=30)).replace("%", "%%") + template,
        args=args,
        exc=draw(st.none() | st.text(max_size=20)),
        stack_info=draw(st.none() | st.text(min_size=1, max_size=20)),
        **draw(st.dictionaries(extra_names, JSON_VALUES, max_size=5)),
    )
    record.created = draw(st.floats(min_value=0, max_value=4e9))
    return record


@settings(max_examples=150)
@given(records())
def test_our_lines_parse_equal_to_python_json_loggers(record) -> None:
    line = OURS.format(record)
    assert not re.search(r"[\n\r]", line)  # one event, one line
    ours, theirs = json.loads(line), json.loads(ORACLE.format(record))
    stamp, their_stamp = ours.pop("timestamp"), theirs.pop("timestamp")
    assert RFC3339_UTC.fullmatch(stamp)
    assert datetime.fromisoformat(stamp) == datetime.fromisoformat(their_stamp)
    assert ours == theirs


def test_the_timestamps_differ_in_spelling_only() -> None:
    record = make_record()
    record.created = 1_700_000_000.0  # a whole second
    ours = json.loads(OURS.format(record))["timestamp"]
    theirs = json.loads(ORACLE.format(record))["timestamp"]
    assert (ours, theirs) == (
        "2023-11-14T22:13:20.000000Z",
        "2023-11-14T22:13:20+00:00",
    )


def test_an_extra_cannot_overwrite_a_standard_field_in_ours_but_can_in_theirs() -> None:
    record = shop.makeRecord(
        "shop", logging.ERROR, "shop.py", 7, "m", (), None, extra={"level": "DEBUG"}
    )
    assert json.loads(OURS.format(record))["level"] == "ERROR"
    assert json.loads(ORACLE.format(record))["level"] == "DEBUG"


def test_a_dict_message_is_text_in_ours_and_merged_in_theirs() -> None:
    record = make_record(msg={"order": 7})
    assert json.loads(OURS.format(record))["message"] == "{'order': 7}"
    assert json.loads(ORACLE.format(record))["order"] == 7


def test_private_extras_are_left_out_by_both() -> None:
    record = make_record(_internal=1, public=2)
    for formatter in (OURS, ORACLE):
        event = json.loads(formatter.format(record))
        assert (event.get("_internal"), event["public"]) == (None, 2)


def test_a_traceback_stays_on_one_line_and_reads_back_whole() -> None:
    record = make_record(exc="bad\nvalue")
    line = OURS.format(record)
    assert line.count("\n") == 0
    text = json.loads(line)["exception"]
    assert text.startswith("Traceback")
    assert text.endswith("ValueError: bad\nvalue")


def test_a_value_json_cannot_hold_is_written_as_its_str() -> None:
    event = json.loads(OURS.format(make_record(when=datetime(2026, 1, 2))))
    assert event["when"] == "2026-01-02 00:00:00"


def test_records_below_the_configured_level_are_not_written() -> None:
    out = io.StringIO()
    with json_logging(out, level=logging.WARNING):
        shop.info("quiet")
        shop.warning("loud")
    assert [json.loads(x)["message"] for x in out.getvalue().splitlines()] == ["loud"]


# --- request IDs on a real server -------------------------------------------


def test_twenty_concurrent_requests_each_log_only_their_own_id() -> None:
    together = threading.Barrier(20, timeout=TIMEOUT)

    def all_at_once(request: Request) -> Response:
        together.wait()  # every request is in flight before any logs
        return checkout(request)

    def buy(n: int) -> tuple[int, str]:
        # half bring an ID, half get one made by the middleware
        headers = [("X-Request-ID", f"client-{n}")] if n % 2 else []
        reply = call(server, "GET", f"/c?item=a{n}&item=b{n}", headers=headers)
        assert reply.status == 200
        return n, reply.header("X-Request-ID")

    out = io.StringIO()
    with (
        json_logging(out),
        serving(stack(all_at_once, request_id)) as server,
        ThreadPoolExecutor(max_workers=20) as clients,
    ):
        owner = dict(clients.map(buy, range(20)))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(events) == 20 * 4
    assert len(set(owner.values())) == 20
    for event in events:
        if "items" in event:  # checkout started, checkout done
            n = int(event["items"][0][1:])
        else:  # pricing a7 / pricing b7, from a pool thread
            n = int(event["message"].split()[-1][1:])
        assert event["request_id"] == owner[n], event


def test_a_pool_task_logs_without_the_id_unless_given_a_copy() -> None:
    out = io.StringIO()
    token = request_id_var.set("req-1")
    try:
        with json_logging(out), ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(shop.info, "bare").result(TIMEOUT)
            copy = contextvars.copy_context()
            pool.submit(copy.run, shop.info, "copied").result(TIMEOUT)
    finally:
        request_id_var.reset(token)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {e["message"]: e["request_id"] for e in events} == {
        "bare": "-",
        "copied": "req-1",
    }


# --- context across threads and tasks ---------------------------------------


def test_a_pool_sees_the_id_only_through_a_copied_context() -> None:
    assert seen_in_a_pool() == {"bare": "-", "copied": "req-7"}
    assert request_id_var.get() == "-"


def test_a_new_thread_starts_empty_and_copy_context_carries_the_id() -> None:
    seen: list[str] = []

    def look() -> None:
        seen.append(request_id_var.get())

    token = request_id_var.set("req-2")
    try:
        copy = contextvars.copy_context()
        for target in (look, lambda: copy.run(look)):
            thread = threading.Thread(target=target)
            thread.start()
            thread.join(TIMEOUT)
    finally:
        request_id_var.reset(token)
    assert seen == ["-", "req-2"]


def test_a_set_without_a_copy_leaks_to_the_next_task_and_with_one_does_not() -> None:
    assert leaks_to_the_next_task() == "req-8"
    with ThreadPoolExecutor(max_workers=1) as pool:
        copy = contextvars.copy_context()
        pool.submit(copy.run, request_id_var.set, "req-8").result(TIMEOUT)
        assert pool.submit(request_id_var.get).result(TIMEOUT) == "-"


def test_one_context_cannot_be_entered_twice_at_once() -> None:
    copy = contextvars.copy_context()
    with pytest.raises(RuntimeError, match="already entered"):
        copy.run(copy.run, request_id_var.get)


def test_asyncio_tasks_and_to_thread_copy_the_context_run_in_executor_does_not() -> (
    None
):
    assert asyncio.run(seen_in_tasks()) == {
        "task": "req-9",
        "to_thread": "req-9",
        "run_in_executor": "-",
    }
    assert request_id_var.get() == "-"  # asyncio.run ran main in a copy


def test_a_task_setting_the_id_does_not_change_its_parent() -> None:
    async def parent() -> tuple[str, str]:
        request_id_var.set("parent")

        async def child() -> str:
            request_id_var.set("child")
            return request_id_var.get()

        return await asyncio.create_task(child()), request_id_var.get()

    assert asyncio.run(parent()) == ("child", "parent")


# --- what must never be logged ----------------------------------------------

SECRET = "s3cr3t-Val9"

# (what was logged, what must still be there)
IN_TEXT = [
    (f"Authorization: Bearer {SECRET}", "Authorization: Bearer"),
    (f"Authorization: Basic {SECRET}==", "Authorization: Basic"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "jwt"),
    (f"connect https://ada:{SECRET}@db.example.com/shop", "@db.example.com/shop"),
    (f"login password={SECRET} ok", "password="),
    (f'{{"api_key": "{SECRET}"}}', '"api_key"'),
    (f"GET /cb?code=1&access_token={SECRET}&state=2", "&state=2"),
    (f"Cookie: sid={SECRET}", "Cookie:"),
    ("welcome ada.lovelace+shop@example.co.uk", "welcome"),
]
BY_NAME = [
    "password",
    "db_password",
    "passwd",
    "token",
    "refresh_token",
    "api_key",
    "apikey",
    "client_secret",
    "Authorization",
    "Cookie",
    "Set-Cookie",
    "session_id",
]


def logged(*args, **extra) -> str:
    out = io.StringIO()
    with json_logging(out):
        logging.getLogger("shop.payments").info(*args, extra=extra)
    return out.getvalue()


@pytest.mark.parametrize(("text", "kept"), IN_TEXT)
def test_secrets_in_the_message_are_removed(text: str, kept: str) -> None:
    secret = SECRET if SECRET in text else text.split()[-1]
    for line in (logged(text), logged("%s", text)):  # in msg and in args
        message = json.loads(line)["message"]
        assert secret not in message
        assert REDACTED in message
        assert kept in message


@pytest.mark.parametrize("name", BY_NAME)
def test_fields_with_a_secret_name_are_removed_at_any_depth(name: str) -> None:
    line = logged(
        "request",
        **{name: SECRET},
        headers={name: SECRET, "Accept": "text/html"},
        calls=[{"user": "u1", name: SECRET}],
    )
    assert SECRET not in line
    event = json.loads(line)
    assert event["headers"]["Accept"] == "text/html"
    assert event["calls"][0]["user"] == "u1"


@settings(max_examples=50)
@given(st.from_regex(r"[A-Za-z0-9._~+/-]{8,40}", fullmatch=True))
def test_any_bearer_token_or_password_value_is_removed(value: str) -> None:
    line = logged(f"Authorization: Bearer {value} password={value}", token=value)
    assert value not in line


def test_a_secret_in_an_exception_message_is_removed_from_the_traceback() -> None:
    out = io.StringIO()
    with json_logging(out):
        try:
            raise ConnectionError(f"https://ada:{SECRET}@db.example.com refused")
        except ConnectionError:
            shop.exception("database down")
    event = json.loads(out.getvalue())
    assert SECRET not in event["exception"]
    assert event["exception"].startswith("Traceback")


def test_a_card_number_in_free_text_is_not_caught_as_the_page_warns() -> None:
    assert "4111 1111 1111 1111" in logged("card 4111 1111 1111 1111")


def test_a_filter_on_a_logger_misses_its_childrens_records() -> None:
    root = logging.getLogger()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLineFormatter())
    redact, level = Redact(), root.level
    root.addFilter(redact)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        logging.getLogger("shop.payments").info(f"password={SECRET}")
    finally:
        root.removeHandler(handler)
        root.removeFilter(redact)
        root.setLevel(level)
    assert SECRET in out.getvalue()  # so json_logging puts it on the handler
    assert SECRET not in logged(f"password={SECRET}")


# --- sampling ----------------------------------------------------------------


# Kept here: 1.24%, 9.68% and 49.72% of the 5,000 IDs. The margins are about
# three binomial standard deviations.
@pytest.mark.parametrize(("rate", "margin"), [(0.01, 0.005), (0.1, 0.015), (0.5, 0.02)])
def test_sampling_keeps_about_the_rate_and_whole_requests(rate, margin) -> None:
    sampler = SampleRequests(rate)
    debug, info = (logging.makeLogRecord({"levelno": n}) for n in (10, 20))
    warning = logging.makeLogRecord({"levelno": logging.WARNING})
    kept = 0
    for n in range(5_000):
        token = request_id_var.set(f"r-{n}")
        try:
            decision = sampler.filter(info)
            assert sampler.filter(debug) == decision  # all or none of one request
            assert sampler.filter(warning)  # warnings are never sampled away
            kept += decision
        finally:
            request_id_var.reset(token)
    assert abs(kept / 5_000 - rate) < margin
