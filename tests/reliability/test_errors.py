"""What the errors page claims, asserted on real faults over loopback; urllib3 is the oracle.

The same fault is met twice: by our http.client call and `classify`, and by urllib3 with
retries off. The kinds must match urllib3's exception classes, and `may_retry` must match
what `urllib3.util.Retry.increment` decides for that exception and method.
"""

from __future__ import annotations

import logging

import pytest
import urllib3
from urllib3.exceptions import (
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from snippets.application.app_core import Request, Response, call, serving, text
from snippets.application.middleware import errors
from snippets.reliability import errors as e

FAULTS = ["refused", "reset", "stall", "cut"]
METHODS = ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", "POST", "PATCH"]
THEIR_CLASS = {
    "refused": NewConnectionError,
    "timeout": ReadTimeoutError,
    "lost": ProtocolError,
}


def meet(fault: str, method: str) -> tuple[e.Failure | int, Exception | int]:
    """Our classified failure, and urllib3's exception, for one real fault."""
    if fault == "refused":
        address = e.closed_port()
        return e.fetch(address, method), their_error(address, method)
    with e.FaultServer(fault) as server:
        ours = e.fetch(server.server_address, method)
    with e.FaultServer(fault) as server:
        theirs = their_error(server.server_address, method)
    return ours, theirs


def their_error(address: tuple[str, int], method: str) -> Exception | int:
    """urllib3's exception, or its status where the fault does not touch the call
    (a HEAD answer has no body to cut short)."""
    pool = urllib3.HTTPConnectionPool(*address, retries=False, timeout=0.5)
    try:
        return pool.request(method, "/").status
    except urllib3.exceptions.HTTPError as error:
        return error
    finally:
        pool.close()


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_is_the_kind_urllib3_raises_for_it(fault: str) -> None:
    ours, theirs = meet(fault, "GET")
    assert isinstance(ours, e.Failure)
    assert isinstance(theirs, THEIR_CLASS[ours.kind])
    expected = {"refused": "refused", "stall": "timeout"}.get(fault, "lost")
    assert ours.kind == expected


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("method", METHODS)
def test_may_retry_agrees_with_urllib3s_retry_for_every_method(
    fault: str, method: str
) -> None:
    """urllib3 retries a connect error for any method, a read error only for an
    idempotent one: Retry.increment raises when it will not retry."""
    ours, theirs = meet(fault, method)
    if isinstance(theirs, int):  # no failure: both must have the answer
        assert (fault, method, ours) == ("cut", "HEAD", theirs)
        return
    try:
        Retry(total=3).increment(method=method, url="/", error=theirs)
        they_retry = True
    except (MaxRetryError, type(theirs)):
        they_retry = False
    assert e.may_retry(method, ours) is they_retry


def test_what_is_not_a_transport_failure_is_raised_not_classified() -> None:
    with pytest.raises(ZeroDivisionError):
        e.classify(ZeroDivisionError("a bug"))


def test_a_server_that_answers_gives_its_status() -> None:
    with serving(lambda request: text("fine\n")) as server:
        assert e.fetch(server.server_address[:2]) == 200


def test_a_bug_becomes_a_500_problem_that_leaks_nothing_and_is_logged_in_full(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def report(request: Request) -> Response:
        secret = {"db_password": "hunter2"}
        raise KeyError(f"no such row, config was {secret}")

    with (
        caplog.at_level(logging.ERROR, logger="request"),
        serving(errors(report)) as server,
    ):
        reply = call(server, "GET", "/report")
    assert reply.status == 500
    assert reply.header("Content-Type") == "application/problem+json"
    body = reply.body.decode()
    for leak in ("KeyError", "hunter2", "Traceback", "report"):
        assert leak not in body
    logged = [r for r in caplog.records if r.exc_info]
    assert logged
    assert logged[0].exc_info[0] is KeyError  # the log keeps what the answer hides
