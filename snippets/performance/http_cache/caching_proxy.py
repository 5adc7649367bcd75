"""A caching proxy from scratch, in front of an origin, on loopback.

What it teaches: the decisions of `decisions` put together. A shared cache
forwards a request to the origin with its own client, stores what RFC 9111
allows, serves a fresh response with an Age field, validates a stale one with
a conditional request, serves stale on an origin error only where
stale-if-error allows (RFC 5861) and must-revalidate does not forbid it, and
drops what an unsafe method changed. A clock the caller drives makes the count
of origin requests exact: 1,000 GETs over 100 s with max-age=10 ask the
origin 10 times.

Read first: the load balancing page (`docs/performance/load_balancing.md`,
"Load balancing"), another proxy in front of servers. This module builds on
`snippets.performance.http_cache.decisions`, on
`snippets.application.app_core` for the servers and the proxy's client, and on
`snippets.communication.apis` for the origin's ETags.

What it leaves out: stale-while-revalidate, answering a client's own
conditional request from the store, invalidation by Location and
Content-Location, eviction and a size limit, and request collapsing.

Run it: `python -m snippets.performance.http_cache.caching_proxy`.
"""

from __future__ import annotations

# --8<-- [start:forward]
import threading
from collections.abc import Callable

from snippets.application.app_core import (
    Headers,
    Request,
    Response,
    call,
    header_value,
)
from snippets.performance.http_cache.decisions import (
    HOP_BY_HOP,
    Entry,
    conditional,
    current_age,
    directives,
    format_date,
    fresh,
    freshen,
    freshness_lifetime,
    seconds,
    storable,
    vary_matches,
)

UNREACHABLE = Response(504, b"origin unreachable\n")


class Forwarder:
    """Sends requests on to one origin with its own client; holds the store."""

    def __init__(self, origin, clock: Callable[[], float]) -> None:
        self.origin, self.clock, self.shared = origin, clock, True
        self.lock = threading.Lock()
        # target -> stored variants, newest first; guarded by lock
        self.store: dict[str, list[Entry]] = {}

    def forward(self, request: Request, target: str, extra: Headers):
        """The origin's response, or None if there was none at all."""
        skip = HOP_BY_HOP | {"host", "content-length"}
        headers = [(n, v) for n, v in request.headers if n.lower() not in skip]
        try:
            return call(
                self.origin, request.method, target, request.body,
                headers + extra,
            )  # fmt: skip
        except OSError:  # refused, reset or timed out
            return None

    def answer(self, entry: Entry, now: float) -> Response:
        """A stored response, with its Age (RFC 9111 section 5.1)."""
        with self.lock:
            headers = [(n, v) for n, v in entry.headers if n.lower() != "age"]
        age = ("Age", str(int(current_age(entry, now))))
        return Response(entry.status, entry.body, [*headers, age])


# --8<-- [end:forward]


# --8<-- [start:store]
class Storing(Forwarder):
    """Stores what section 3 allows; drops what an unsafe method changed."""

    def fetch(self, request: Request, target: str) -> Response:
        sent = self.clock()
        upstream = self.forward(request, target, [])
        if upstream is None:
            return UNREACHABLE
        return self.keep(request, target, upstream, sent)

    def keep(self, request, target, upstream: Response, sent: float):
        got = self.clock()
        headers = [
            (n, v) for n, v in upstream.headers if n.lower() not in HOP_BY_HOP
        ]
        if not header_value(headers, "Date"):  # RFC 9110 section 6.6.1
            headers.append(("Date", format_date(got)))
        status, shared = upstream.status, self.shared
        if storable(request.method, request.headers, status, headers, shared):
            entry = Entry(
                status, headers, upstream.body, request.headers, sent, got
            )
            with self.lock:  # replace the variant this request selects
                others = [
                    e
                    for e in self.store.get(target, [])
                    if not vary_matches(e, request.headers)
                ]
                self.store[target] = [entry, *others]
        return Response(status, upstream.body, headers)

    def unsafe(self, request: Request, target: str) -> Response:
        """RFC 9111 section 4.4: a successful unsafe request invalidates."""
        upstream = self.forward(request, target, [])
        if upstream is None:
            return UNREACHABLE
        if request.method != "HEAD" and upstream.status < 400:
            with self.lock:
                self.store.pop(target, None)
        return upstream


# --8<-- [end:store]


# --8<-- [start:proxy]
from urllib.parse import quote, urlencode


class CachingProxy(Storing):
    """A shared cache in front of one origin: a handler for `serving`."""

    def __call__(self, request: Request) -> Response:
        query = urlencode(request.query, doseq=True)
        target = quote(request.path) + ("?" + query if query else "")
        if request.method != "GET":
            return self.unsafe(request, target)
        with self.lock:
            variants = list(self.store.get(target, []))
        for entry in variants:
            if vary_matches(entry, request.headers):
                return self.reuse(request, target, entry)
        return self.fetch(request, target)

    def reuse(self, request: Request, target: str, entry: Entry) -> Response:
        """Fresh: serve it. Otherwise validate it (section 4.3)."""
        asked, told = directives(request.headers), directives(entry.headers)
        now = self.clock()
        revalidate = "no-cache" in asked or "no-cache" in told
        if fresh(entry, now, self.shared) and not revalidate:
            return self.answer(entry, now)  # a hit: the origin is not asked
        sent = self.clock()
        upstream = self.forward(request, target, conditional(entry))
        if upstream is None or upstream.status >= 500:
            if self.may_serve_stale(entry, now, told):
                return self.answer(entry, now)
            return upstream or UNREACHABLE
        if upstream.status != 304:
            return self.keep(request, target, upstream, sent)
        with self.lock:  # other threads may be reading this entry's fields
            freshen(entry, upstream.headers, sent, self.clock())
        return self.answer(entry, self.clock())

    def may_serve_stale(self, entry: Entry, now: float, told: dict) -> bool:
        """RFC 5861 stale-if-error=N: up to N seconds past stale, unless the
        origin said must-revalidate (RFC 9111 section 5.2.2.2) or no-cache."""
        if {"must-revalidate", "proxy-revalidate", "no-cache"} & told.keys():
            return False
        window = seconds(told.get("stale-if-error"))
        lifetime = freshness_lifetime(
            entry.status, entry.headers, self.shared, entry.response_time
        )
        staleness = current_age(entry, now) - lifetime
        return window is not None and staleness <= window


# --8<-- [end:proxy]


# --8<-- [start:origin]
from collections import Counter

from snippets.application.app_core import text
from snippets.communication.apis import if_none_match_passes, strong_etag


class Origin:
    """An origin server's handler: a body that changes on every `edit`, an
    ETag and a Last-Modified for it, and a count of what it answered."""

    def __init__(self, clock: Callable[[], float], cache_control: str) -> None:
        self.clock, self.cache_control = clock, cache_control
        self.version, self.modified = 1, clock()
        self.vary = "Accept-Language"
        self.answered: Counter[int] = Counter()  # status -> count
        self.lock = threading.Lock()  # guards answered

    def __call__(self, request: Request) -> Response:
        body = f"version {self.version}\n"
        etag = strong_etag(body.encode())
        headers = [
            ("Cache-Control", self.cache_control),
            ("Date", format_date(self.clock())),
            ("ETag", etag),
            ("Last-Modified", format_date(self.modified)),
            ("Vary", self.vary),
        ]
        condition = request.header("If-None-Match")
        passes = condition is None or if_none_match_passes(condition, etag)
        with self.lock:
            self.answered[200 if passes else 304] += 1
        if not passes:  # RFC 9110 section 15.4.5: 304, no content
            return Response(304, b"", headers)
        return text(body, headers=headers)

    def edit(self) -> None:
        self.version, self.modified = self.version + 1, self.clock()


# --8<-- [end:origin]


# --8<-- [start:drive]
from snippets.application.app_core import serving


class DrivenClock:
    """A clock that moves only when told to: runs are exact and repeatable."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.start, self.now = start, start

    def __call__(self) -> float:
        return self.now


def drive(gets: int, step: float, cache_control: str) -> Counter[int]:
    """Send `gets` GETs through the proxy, one every `step` seconds of the
    driven clock; return what the origin answered, by status."""
    clock = DrivenClock()
    origin = Origin(clock, cache_control)
    with (
        serving(origin) as upstream,
        serving(CachingProxy(upstream, clock)) as proxy,
    ):
        for i in range(gets):
            clock.now = clock.start + i * step
            reply = call(proxy, "GET", "/page")
            assert reply.status == 200, reply.status
    return origin.answered


# --8<-- [end:drive]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_proxy]
    for policy in ("max-age=10", "no-cache", "no-store"):
        answered = drive(1000, 0.1, policy)  # 1,000 GETs in 100 s
        counts = f"{answered[200]} x 200, {answered[304]} x 304"
        print(f"{policy}: origin asked {answered.total()} times ({counts})")
        #> max-age=10: origin asked 10 times (1 x 200, 9 x 304)
        #> no-cache: origin asked 1000 times (1 x 200, 999 x 304)
        #> no-store: origin asked 1000 times (1000 x 200, 0 x 304)
    # --8<-- [end:demo_proxy]
