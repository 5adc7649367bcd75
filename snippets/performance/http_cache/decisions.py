"""The decisions of an HTTP cache (RFC 9111), each a function of header sets.

What it teaches: whether a response may be stored at all (section 3: the
method, the status code, no-store, private in a shared cache, a request with
Authorization); how long it stays fresh (section 4.2.1: s-maxage for a shared
cache, then max-age, then Expires minus Date, then a heuristic only where one
is allowed); how old it is (section 4.2.3: the Age field, the apparent age and
the time spent in the cache); which stored variant answers a request (section
4.1: Vary, where `*` never matches); and how a stale response is checked
instead of fetched again (section 4.3: ETag and If-None-Match, Last-Modified
and If-Modified-Since, a 304 that updates the stored fields).

Read first: the APIs page (`docs/communication/apis.md`, "APIs over HTTP"),
which introduces ETags and conditional requests. This module builds on
`snippets.application.app_core` for its header lists.

What it leaves out: qualified `private` and `no-cache` (with field names),
must-understand, ranges, and the request directives other than no-cache
(max-stale, min-fresh, only-if-cached).

Run it: `python -m snippets.performance.http_cache.decisions`.
"""

from __future__ import annotations

# --8<-- [start:directives]
from email.utils import formatdate, parsedate_to_datetime

from snippets.application.app_core import Headers, header_value


def directives(headers: Headers) -> dict[str, str | None]:
    """Cache-Control as {directive: argument or None}; the first one wins."""
    found: dict[str, str | None] = {}
    for part in (header_value(headers, "Cache-Control") or "").split(","):
        name, equals, argument = part.strip().partition("=")
        if name:
            value = argument.strip().strip('"') if equals else None
            found.setdefault(name.lower(), value)
    return found


def seconds(value: str | None) -> int | None:
    """delta-seconds (RFC 9111 section 1.2.2), or None if it is not one."""
    if value is None or not value.isdigit():
        return None
    return min(int(value), 2**31)  # "consider the value to be 2147483648"


def http_date(value: str | None) -> float | None:
    """An HTTP-date as seconds since the epoch, or None if it is not one."""
    try:
        return parsedate_to_datetime(value).timestamp() if value else None
    except (TypeError, ValueError):
        return None


def format_date(when: float) -> str:
    """An IMF-fixdate, as a Date field carries it (RFC 9110 section 5.6.7)."""
    return formatdate(when, usegmt=True)


# --8<-- [end:directives]


# --8<-- [start:storable]
# RFC 9110 section 15.1: "heuristically cacheable" status codes (206 too, but
# this cache does not implement ranges, so it never stores one).
HEURISTIC = {200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501}
METHODS = {"GET", "HEAD"}  # the methods this cache understands


def storable(
    method: str, request: Headers, status: int, headers: Headers, shared: bool
) -> bool:
    """RFC 9111 section 3: may a cache store this response at all?"""
    cc = directives(headers)
    if method not in METHODS or status < 200 or status in (206, 304):
        return False  # "the request method is understood", "final" status
    if "no-store" in cc or (shared and "private" in cc):
        return False
    # Section 3.5: a shared cache stores an answer to a request with
    # Authorization only if must-revalidate, public or s-maxage allows it.
    allowed = {"must-revalidate", "public", "s-maxage"} & cc.keys()
    if shared and header_value(request, "Authorization") and not allowed:
        return False
    return bool(
        "public" in cc
        or ("private" in cc and not shared)
        or header_value(headers, "Expires") is not None
        or "max-age" in cc
        or (shared and "s-maxage" in cc)
        or status in HEURISTIC
    )


# --8<-- [end:storable]


# --8<-- [start:freshness]
def freshness_lifetime(
    status: int, headers: Headers, shared: bool, received: float
) -> float:
    """RFC 9111 section 4.2.1: how long a response stays fresh, in seconds.

    "using the first match": s-maxage (a shared cache), max-age, Expires minus
    Date, then a heuristic (section 4.2.2). `received` stands in for a missing
    Date. An invalid value counts as stale, as section 4.2.1 encourages.
    """
    cc = directives(headers)
    if shared and "s-maxage" in cc:
        return seconds(cc["s-maxage"]) or 0
    if "max-age" in cc:
        return seconds(cc["max-age"]) or 0
    date = http_date(header_value(headers, "Date")) or received
    if (expires := header_value(headers, "Expires")) is not None:
        when = http_date(expires)  # "0" or garbage: "a time in the past"
        return when - date if when is not None else 0
    # Section 4.2.2: a heuristic only for a status code that allows one or a
    # response marked public; 10% of the time since Last-Modified.
    modified = http_date(header_value(headers, "Last-Modified"))
    if modified is None or (status not in HEURISTIC and "public" not in cc):
        return 0
    return max(0.0, 0.1 * (date - modified))


# --8<-- [end:freshness]


# --8<-- [start:age]
from dataclasses import dataclass


@dataclass
class Entry:
    """A stored response, with the times RFC 9111 section 4.2.3 needs."""

    status: int
    headers: Headers
    body: bytes
    request: Headers  # the request's fields, for Vary
    request_time: float  # when the cache sent the request
    response_time: float  # when the response arrived


def current_age(entry: Entry, now: float) -> float:
    """RFC 9111 section 4.2.3, line by line."""
    date_value = http_date(header_value(entry.headers, "Date"))
    if date_value is None:
        date_value = entry.response_time
    age_value = seconds(header_value(entry.headers, "Age")) or 0
    apparent_age = max(0, entry.response_time - date_value)
    response_delay = entry.response_time - entry.request_time
    corrected_age_value = age_value + response_delay
    corrected_initial_age = max(apparent_age, corrected_age_value)
    resident_time = now - entry.response_time
    return corrected_initial_age + resident_time


def fresh(entry: Entry, now: float, shared: bool) -> bool:
    """ "response_is_fresh = (freshness_lifetime > current_age)"."""
    lifetime = freshness_lifetime(
        entry.status, entry.headers, shared, entry.response_time
    )
    return lifetime > current_age(entry, now)


# --8<-- [end:age]


# --8<-- [start:vary]
def vary_matches(entry: Entry, request: Headers) -> bool:
    """RFC 9111 section 4.1: does a stored variant answer this request?

    Every field the response's Vary names must have the same value in both
    requests; "A stored response with a Vary header field value containing a
    member '*' always fails to match."
    """
    names = (header_value(entry.headers, "Vary") or "").split(",")
    for name in (n.strip() for n in names if n.strip()):
        if name == "*":
            return False
        if header_value(request, name) != header_value(entry.request, name):
            return False
    return True


# --8<-- [end:vary]


# --8<-- [start:validation]
# Fields a 304 must not replace: it describes no content (RFC 9111 section
# 3.2), and hop-by-hop fields belong to one connection (RFC 9110 7.6.1).
HOP_BY_HOP = {"connection", "keep-alive", "te", "transfer-encoding", "upgrade"}
KEEP_ON_304 = {"content-length"} | HOP_BY_HOP


def conditional(entry: Entry) -> Headers:
    """RFC 9111 section 4.3.1: the validators to send with a request."""
    headers = []
    if etag := header_value(entry.headers, "ETag"):
        headers.append(("If-None-Match", etag))
    if modified := header_value(entry.headers, "Last-Modified"):
        headers.append(("If-Modified-Since", modified))
    return headers


def freshen(entry: Entry, not_modified: Headers, sent: float, got: float):
    """RFC 9111 section 4.3.4: a 304 replaces the stored fields it carries;
    the stored content stays, and its age restarts from this exchange."""
    new = {name.lower() for name, _ in not_modified}
    kept = [(n, v) for n, v in entry.headers if n.lower() not in new]
    added = [(n, v) for n, v in not_modified if n.lower() not in KEEP_ON_304]
    entry.headers = kept + added
    entry.request_time, entry.response_time = sent, got


# --8<-- [end:validation]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_decisions]
    now = 1_700_000_000
    both = [("Cache-Control", "max-age=60, s-maxage=600")]
    shared = freshness_lifetime(200, both, shared=True, received=now)
    private = freshness_lifetime(200, both, shared=False, received=now)
    print(f"shared cache: {shared} s, private cache: {private} s")
    #> shared cache: 600 s, private cache: 60 s
    expires = [("Date", format_date(now)), ("Expires", format_date(now + 90))]
    print(freshness_lifetime(200, expires, shared=True, received=now))
    #> 90.0
    guess = [("Last-Modified", format_date(now - 10 * 86_400))]
    ok = freshness_lifetime(200, guess, True, now)
    error = freshness_lifetime(500, guess, True, now)
    print(f"heuristic for a 200: {ok / 3600:.0f} h, for a 500: {error}")
    #> heuristic for a 200: 24 h, for a 500: 0
    auth = [("Authorization", "Bearer abc")]
    print(storable("GET", auth, 200, [("Cache-Control", "max-age=60")], True))
    #> False
    print(storable("GET", auth, 200, [("Cache-Control", "s-maxage=60")], True))
    #> True
    # --8<-- [end:demo_decisions]

    # --8<-- [start:demo_age]
    stored = Entry(
        status=200,
        headers=[("Date", format_date(now)), ("Age", "30")],
        body=b"",
        request=[],
        request_time=now + 2,  # the cache asked 2 s after the Date...
        response_time=now + 3,  # ...and the answer took 1 s to arrive
    )
    print(current_age(stored, now=now + 13))  # 10 s after it arrived
    #> 41
    # --8<-- [end:demo_age]

    # --8<-- [start:demo_vary]
    english = [("Accept-Language", "en")]
    varies = Entry(200, [("Vary", "Accept-Language")], b"", english, now, now)
    print(vary_matches(varies, english), vary_matches(varies, []))
    #> True False
    star = Entry(200, [("Vary", "*")], b"", english, now, now)
    print(vary_matches(star, english))
    #> False
    # --8<-- [end:demo_vary]
