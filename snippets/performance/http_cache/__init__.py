"""HTTP caching: when a stored response may be reused, and a caching proxy
that reuses it.

What it teaches: the decisions of RFC 9111, each a small function you can call
with a set of header fields, and a caching proxy on loopback that puts them
together in front of an origin server, with a clock the caller drives, so the
page can count exactly how often the origin is asked.

Two modules, read in this order:

- `decisions`: may a response be stored (section 3), how long it stays fresh
  (4.2.1, 4.2.2), how old it is (4.2.3), which stored variant answers a
  request (Vary, 4.1), and validation with a 304 (4.3).
- `caching_proxy`: the proxy, an origin with ETags, and a driven clock.

Read first: the APIs page (`docs/communication/apis.md`, "APIs over HTTP"),
which introduces ETags and conditional requests, and the caching page
(`docs/data/caching.md`, "Caching"), which caches inside a server.

What it leaves out: stale-while-revalidate, range requests and 206 responses,
qualified `private` and `no-cache` (with field names), must-understand,
answering a client's own conditional request from the store, invalidation by
Location and Content-Location, eviction and a size limit, and request
collapsing (see the page).

This package imports nothing at import time, so each module runs as
`python -m` without warnings.
"""
