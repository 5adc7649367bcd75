"""What the HTTP caching page claims about the decisions, asserted.

The oracle is hishel 2.0.0 (pinned), whose RFC 9111 decisions live in
`hishel._core._spec` and take a request and a response built from plain
header sets: `get_freshness_lifetime`, `get_age`, `vary_headers_match`, and
the `CacheMiss` state, whose `next(response)` says whether to store. Our
decisions agree with them on generated header sets. Where hishel differs from
the RFC on purpose (a simpler age, a heuristic for any status code, a one-week
cap on it), the tests assert the difference, and the page says so.
"""

from __future__ import annotations

from types import SimpleNamespace
from uuid import uuid4

import pytest
from hishel import Entry as OracleEntry
from hishel import Headers as OracleHeaders
from hishel import Request as OracleRequest
from hishel import Response as OracleResponse
from hishel._core import _spec as oracle
from hypothesis import assume, given
from hypothesis import strategies as st

from snippets.performance.http_cache.decisions import (
    HEURISTIC,
    Entry,
    current_age,
    format_date,
    freshness_lifetime,
    storable,
    vary_matches,
)

NOW = 1_700_000_000  # a whole second: HTTP dates have no fractions
DAY = 86_400


@pytest.fixture(autouse=True)
def frozen_oracle(monkeypatch):
    """hishel reads time.time(): give its module a clock stopped at NOW."""
    monkeypatch.setattr(oracle, "time", SimpleNamespace(time=lambda: NOW))


def oracle_response(status, headers):
    return OracleResponse(status, OracleHeaders(dict(headers)))


def oracle_request(method, headers):
    return OracleRequest(method, "http://origin/page", OracleHeaders(dict(headers)))


DIRECTIVES = ["no-store", "no-cache", "private", "public", "must-revalidate"]
delta = st.integers(0, 10**6).map(str)
STATUSES = [100, 200, 203, 204, 206, 300, 301, 302, 304, 307, 308]
STATUSES += [400, 403, 404, 405, 410, 414, 500, 501, 503]


@st.composite
def responses(draw):
    """A status and a header set: Cache-Control, Expires, Date,
    Last-Modified, each present or not."""
    parts = draw(st.lists(st.sampled_from(DIRECTIVES), unique=True))
    if draw(st.booleans()):
        parts.append("max-age=" + draw(delta))
    if draw(st.booleans()):
        parts.append("s-maxage=" + draw(delta))
    headers = [("Cache-Control", ", ".join(draw(st.permutations(parts))))]
    date = NOW - draw(st.integers(0, 1000))
    if draw(st.booleans()):
        headers.append(("Date", format_date(date)))
    if draw(st.booleans()):
        expires = st.integers(-DAY, DAY).map(lambda d: format_date(date + d))
        headers.append(("Expires", draw(expires | st.just("0"))))
    if draw(st.booleans()):
        modified = NOW - draw(st.integers(0, 60 * DAY))
        headers.append(("Last-Modified", format_date(modified)))
    return draw(st.sampled_from(STATUSES)), headers, date


def explicit(headers, shared) -> bool:
    value = dict(headers)["Cache-Control"]
    return (
        "max-age" in value.replace("s-maxage", "")
        or (shared and "s-maxage" in value)
        or "Expires" in dict(headers)
    )


@given(responses(), st.booleans())
def test_freshness_lifetime_agrees_with_the_oracle(response, shared) -> None:
    status, headers, date = response
    ours = freshness_lifetime(status, headers, shared, received=NOW)
    theirs = oracle.get_freshness_lifetime(oracle_response(status, headers), shared)
    if not explicit(headers, shared):
        # hishel's heuristic counts from now, ours from Date; both are NOW
        # here, and the status allows one (the next test is the difference).
        assume(date == NOW or "Date" not in dict(headers))
        assume(status in HEURISTIC or "public" in dict(headers)["Cache-Control"])
    # An invalid Expires ("0") is stale for both: hishel says -1, we say 0.
    assert int(max(0, ours)) == max(0, theirs or 0)


def test_the_oracle_uses_a_heuristic_where_the_rfc_allows_none() -> None:
    # RFC 9111 section 4.2.2: heuristics only for a heuristically cacheable
    # status code or a response marked public. hishel uses one for any.
    headers = [("Last-Modified", format_date(NOW - 10 * DAY))]
    assert freshness_lifetime(500, headers, False, NOW) == 0
    assert oracle.get_freshness_lifetime(oracle_response(500, headers), False) == DAY
    assert freshness_lifetime(200, headers, False, NOW) == DAY


def test_the_oracle_caps_the_heuristic_at_a_week_and_we_do_not() -> None:
    headers = [("Last-Modified", format_date(NOW - 100 * DAY))]
    assert freshness_lifetime(200, headers, True, NOW) == 10 * DAY
    assert oracle.get_freshness_lifetime(oracle_response(200, headers), True) == 7 * DAY


def test_s_maxage_wins_in_a_shared_cache_only() -> None:
    headers = [("Cache-Control", "max-age=60, s-maxage=600")]
    assert freshness_lifetime(200, headers, True, NOW) == 600
    assert freshness_lifetime(200, headers, False, NOW) == 60


@given(
    st.sampled_from(["GET", "HEAD", "POST", "PUT"]),
    st.booleans(),
    responses(),
    st.booleans(),
)
def test_storable_agrees_with_the_oracle(method, auth, response, shared) -> None:
    status, headers, _ = response
    request = [("Authorization", "Bearer x")] if auth else []
    state = oracle.CacheMiss(
        request=oracle_request(method, request), options={"shared": shared}
    ).next(oracle_response(status, headers))
    theirs = isinstance(state, oracle.StoreAndUse)
    assert storable(method, request, status, headers, shared) == theirs


def entry(headers, request_time=NOW, response_time=NOW, request=()):
    return Entry(200, headers, b"", list(request), request_time, response_time)


@given(st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000))
def test_current_age_agrees_with_the_oracle_without_an_age_field(
    apparent, resident, delay
) -> None:
    received = NOW - resident
    stored = entry(
        [("Date", format_date(received - apparent))], received - delay, received
    )
    theirs = oracle.get_age(oracle_response(200, stored.headers))
    if delay == 0:
        assert current_age(stored, NOW) == theirs
    else:  # RFC 9111 counts the response delay when it exceeds the apparent age
        expected = max(apparent, delay) + resident
        assert current_age(stored, NOW) == expected >= theirs


@given(st.integers(0, 1000), st.integers(0, 5000), st.integers(0, 1000))
def test_the_oracle_ignores_the_age_field(apparent, age, resident) -> None:
    received = NOW - resident
    headers = [("Date", format_date(received - apparent)), ("Age", str(age))]
    stored = entry(headers, received, received)
    theirs = oracle.get_age(oracle_response(200, headers))
    assert theirs == apparent + resident
    assert current_age(stored, NOW) == max(apparent, age) + resident


names = st.sampled_from(["Accept-Language", "Accept", "Cookie"])
values = st.none() | st.sampled_from(["en", "fr", "en, fr"])


@given(
    st.lists(names | st.just("*"), unique=True),
    st.dictionaries(names, values),
    st.dictionaries(names, values),
)
def test_vary_agrees_with_the_oracle(vary, first, second) -> None:
    first = [(k, v) for k, v in first.items() if v is not None]
    second = [(k, v) for k, v in second.items() if v is not None]
    headers = [("Vary", ", ".join(vary))] if vary else []
    stored = entry(headers, request=first)
    pair = OracleEntry(
        uuid4(), oracle_request("GET", first), oracle_response(200, headers)
    )
    theirs = oracle.vary_headers_match(oracle_request("GET", second), pair)
    assert vary_matches(stored, second) == theirs
    if "*" in vary:
        assert not vary_matches(stored, first)  # not even the same request
