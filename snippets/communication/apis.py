"""APIs over HTTP: a small resource API with content negotiation, ETags, 304s
and CORS.

What it teaches: how an HTTP API uses the protocol itself instead of inventing
its own. A collection of books lives at `/books` and each book at `/books/<id>`.
The server picks JSON or CSV from the `Accept` header (RFC 9110 section 12.5.1)
or answers 406, tags every representation with a strong ETag computed from its
bytes (section 8.8.3), answers a matching `If-None-Match` with 304 and no body
(sections 13.1.2 and 15.4.5), refuses a stale `If-Match` on PUT with 412
(optimistic concurrency, section 13.1.1), says how long caches may keep an
answer (`Cache-Control`, RFC 9111), and answers CORS preflights from an
allow-list of origins (the Fetch standard). The rules are small pure functions;
the `http.server` handler at the end only moves bytes between them and the
socket.

Read first: the HTTP/1.1 messages page (request and response anatomy, status
codes).

What it leaves out: media type parameters other than `q` in `Accept` (and quoted
commas inside them), `Last-Modified` and `If-Modified-Since`, `Range` requests,
credentialed CORS (cookies), authentication, persistence, and a real cache
between client and server.

Run it: `python -m snippets.communication.apis`.
"""

# --8<-- [start:accept]
import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_ACCEPT = 1024  # characters; browsers send a few hundred at most
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 section 5.6.2
QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")  # RFC 9110 section 12.4.2


class HeaderTooLong(ValueError):
    """A request header longer than this server agrees to read."""


@dataclass(frozen=True)
class MediaRange:
    """One element of an Accept header: `type/subtype` with its weight `q`."""

    type: str
    subtype: str
    q: float


def weight(params: list[str]) -> float | None:
    """The `q` parameter of a media range: 1 if absent, None if malformed."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            value = value.strip()
            return float(value) if QVALUE.fullmatch(value) else None
    return 1.0


def parse_accept(value: str) -> list[MediaRange]:
    """Parse an Accept field value, skipping malformed elements.

    Raises:
        HeaderTooLong: if the value is longer than `MAX_ACCEPT` characters.
    """
    if len(value) > MAX_ACCEPT:
        raise HeaderTooLong(
            f"Accept has {len(value)} characters, limit {MAX_ACCEPT}"
        )
    ranges = []
    for element in value.split(","):
        media, *params = element.split(";")
        type_, _, subtype = media.strip().lower().partition("/")
        valid = TOKEN.fullmatch(type_) and TOKEN.fullmatch(subtype)
        q = weight(params)
        if valid and not (type_ == "*" and subtype != "*") and q is not None:
            ranges.append(MediaRange(type_, subtype, q))
    return ranges


# --8<-- [end:accept]


# --8<-- [start:negotiate]
def quality(media_type: str, ranges: list[MediaRange]) -> float:
    """The weight the client gives `media_type`: that of the most specific
    match."""
    type_, _, subtype = media_type.partition("/")
    best_specificity, best_q = -1, 0.0
    for r in ranges:
        if r.type == "*":
            specificity = 0  # */*
        elif r.type == type_ and r.subtype == "*":
            specificity = 1  # text/*
        elif (r.type, r.subtype) == (type_, subtype):
            specificity = 2  # text/csv
        else:
            continue
        if specificity > best_specificity:
            best_specificity, best_q = specificity, r.q
    return best_q


def negotiate(accept: str | None, offers: Sequence[str]) -> str | None:
    """Pick the offer the client weighs highest; ties go to the earlier offer.

    Returns the first offer when the client states no usable preference, and
    None when every offer has weight 0 (the caller answers 406).
    """
    ranges = parse_accept(accept) if accept else []
    if not ranges:
        return offers[0]
    q, _, best = max((quality(o, ranges), -i, o) for i, o in enumerate(offers))
    return best if q > 0 else None


# --8<-- [end:negotiate]


# --8<-- [start:etags]
import hashlib
from collections.abc import Iterable
from typing import Literal

ENTITY_TAG = re.compile(r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"')  # RFC 9110 8.8.3


def strong_etag(body: bytes) -> str:
    """A strong entity tag: changes whenever a byte of the representation
    does."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def entity_tags(value: str) -> list[str] | Literal["*"]:
    """The entity tags of an If-Match or If-None-Match value, or "*"."""
    if value.strip() == "*":
        return "*"
    # not split(","): a tag may contain a comma
    return ENTITY_TAG.findall(value)


def if_none_match_passes(value: str, current: str) -> bool:
    """RFC 9110 13.1.2 with weak comparison. False means: answer 304."""
    tags = entity_tags(value)
    if tags == "*":
        return False
    return all(
        tag.removeprefix("W/") != current.removeprefix("W/") for tag in tags
    )


def if_match_passes(value: str, current: Iterable[str]) -> bool:
    """RFC 9110 13.1.1 with strong comparison. False means: answer 412."""
    tags = entity_tags(value)
    if tags == "*":
        return True
    return any(
        tag == c and not tag.startswith("W/") for tag in tags for c in current
    )


# --8<-- [end:etags]


# --8<-- [start:cache]
CACHE_POLICY = {
    # any cache may reuse it for 60 s, then revalidate
    "item": "public, max-age=60",
    # may be stored, but revalidated before every reuse
    "collection": "no-cache",
    "error": "no-store",  # never stored anywhere
}
# --8<-- [end:cache]


# --8<-- [start:cors]
@dataclass(frozen=True)
class CorsPolicy:
    """Which other origins may call this API from a browser, and how."""

    origins: frozenset[str]
    methods: tuple[str, ...] = ("GET", "HEAD", "PUT")
    headers: tuple[str, ...] = ("content-type", "if-match")
    expose: tuple[str, ...] = ("ETag",)
    max_age: int = 600  # seconds a browser may cache a granted preflight


def preflight_headers(
    policy: CorsPolicy, origin: str | None, method: str, request_headers: str
) -> dict[str, str]:
    """The answer to a preflight: every allow header, or nothing at all."""
    asked = [name.strip().lower() for name in request_headers.split(",")]
    granted = (
        origin in policy.origins
        and method in policy.methods  # methods are case-sensitive
        and all(name in policy.headers for name in asked if name)
    )
    if not granted:
        return {}  # no Access-Control-* header: the browser blocks the request
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": ", ".join(policy.methods),
        "Access-Control-Allow-Headers": ", ".join(policy.headers),
        "Access-Control-Max-Age": str(policy.max_age),
    }


# --8<-- [end:cors]


# --8<-- [start:response_cors]
def response_cors_headers(
    policy: CorsPolicy, origin: str | None
) -> dict[str, str]:
    """What an actual (not preflight) response adds for an allowed origin."""
    if origin not in policy.origins:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": ", ".join(policy.expose),
    }


# --8<-- [end:response_cors]


# --8<-- [start:store]
import csv
import io
import json
import threading
from urllib.parse import urlsplit

OFFERS = ("application/json", "text/csv")  # our preference order
CONTENT_TYPE = {
    "application/json": "application/json",
    "text/csv": "text/csv; charset=utf-8",  # RFC 4180 section 3
}
FIELDS = ("id", "title", "author", "year")
ITEM = re.compile(r"/books/([1-9][0-9]{0,8})")
Book = dict[str, object]


class BookStore:
    """The resources: books by id, shared by every handler thread."""

    def __init__(self, books: Iterable[Book]) -> None:
        # guards books: each read and each write holds it
        self.lock = threading.Lock()
        self.books = {book["id"]: dict(book) for book in books}

    def read(self, book_id: int | None) -> Book | list[Book] | None:
        """A copy of one book, of all of them (book_id None), or None if
        missing."""
        with self.lock:
            if book_id is None:
                return [dict(book) for book in self.books.values()]
            book = self.books.get(book_id)
            return None if book is None else dict(book)


# --8<-- [end:store]


# --8<-- [start:representations]
def route(target: str) -> tuple[str, int | None] | None:
    """Map a request target to ("collection", None), ("item", id) or None."""
    path = urlsplit(target).path
    if path == "/books":
        return "collection", None
    if match := ITEM.fullmatch(path):
        return "item", int(match[1])
    return None


def render(document: Book | list[Book], media_type: str) -> bytes:
    """The bytes of one representation of a book or of the collection."""
    if media_type == "text/csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, FIELDS, lineterminator="\r\n")  # RFC 4180
        writer.writeheader()
        writer.writerows([document] if isinstance(document, dict) else document)
        return out.getvalue().encode()
    return json.dumps(document, separators=(",", ":")).encode()


# --8<-- [end:representations]


# --8<-- [start:reply]
@dataclass
class Reply:
    """A response before it meets the socket: status, headers, body."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


def text_reply(status: int, message: str, **headers: str) -> Reply:
    """A short plain-text error that no cache keeps."""
    base = {
        "Content-Type": "text/plain; charset=utf-8",
        "Cache-Control": "no-store",
    }
    return Reply(status, base | headers, message.encode() + b"\n")


# --8<-- [end:reply]


# --8<-- [start:get]
def get_reply(
    store: BookStore, kind: str, book_id: int | None, headers: dict
) -> Reply:
    """GET and HEAD: 404, 406, 304 or 200, checked in the order RFC 9110
    asks."""
    document = store.read(book_id)
    if document is None:
        return text_reply(404, "no such book")
    try:
        media_type = negotiate(headers.get("accept"), OFFERS)
    except HeaderTooLong as error:
        return text_reply(431, str(error))
    if media_type is None:
        return text_reply(406, "available: " + ", ".join(OFFERS))
    body = render(document, media_type)
    meta = {
        "ETag": strong_etag(body),
        "Cache-Control": CACHE_POLICY[kind],
        "Vary": "Accept, Origin",
    }
    condition = headers.get("if-none-match")
    if condition is not None and not if_none_match_passes(
        condition, meta["ETag"]
    ):
        return Reply(304, meta)  # the same validators, no body
    return Reply(200, {"Content-Type": CONTENT_TYPE[media_type], **meta}, body)


# --8<-- [end:get]


# --8<-- [start:put]
def parse_book(body: bytes, book_id: int) -> Book:
    """Validate a PUT body: exactly title, author and year, with their types."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise ValueError("the body is not JSON") from error
    if not isinstance(data, dict) or sorted(data) != [
        "author",
        "title",
        "year",
    ]:
        raise ValueError(
            "expected an object with exactly title, author and year"
        )
    title, author, year = data["title"], data["author"], data["year"]
    if not (
        isinstance(title, str) and isinstance(author, str) and type(year) is int
    ):
        raise ValueError("title and author are strings, year is an integer")
    return {"id": book_id, "title": title, "author": author, "year": year}


def put_reply(
    store: BookStore, book_id: int, headers: dict, body: bytes
) -> Reply:
    """PUT with optimistic concurrency: the client must prove it saw the
    latest."""
    # check and write are one step: no other PUT slips in between
    with store.lock:
        current = store.books.get(book_id)
        if current is None:
            return text_reply(404, "no such book")
        if (
            headers.get("content-type", "").split(";")[0].strip()
            != "application/json"
        ):
            return text_reply(415, "send application/json")
        if "if-match" not in headers:
            return text_reply(428, "send If-Match with the ETag you read")
        tags = [
            strong_etag(render(current, media_type)) for media_type in OFFERS
        ]
        if not if_match_passes(headers["if-match"], tags):
            return text_reply(412, "the book changed since you read it")
        try:
            store.books[book_id] = parse_book(body, book_id)
        except ValueError as error:
            return text_reply(400, str(error))
    # no ETag: we stored a re-encoding, not the bytes sent
    return Reply(204, {})


# --8<-- [end:put]


# --8<-- [start:options]
ALLOW = {"collection": "GET, HEAD, OPTIONS", "item": "GET, HEAD, PUT, OPTIONS"}


def options_reply(policy: CorsPolicy, allow: str, headers: dict) -> Reply:
    """OPTIONS: the allowed methods, plus the CORS grant when it is a
    preflight."""
    cors = {}
    if "origin" in headers and "access-control-request-method" in headers:
        cors = preflight_headers(
            policy,
            headers["origin"],
            headers["access-control-request-method"],
            headers.get("access-control-request-headers", ""),
        )
    return Reply(204, {"Allow": allow, "Vary": "Origin", **cors})


# --8<-- [end:options]


# --8<-- [start:answer]
def answer(
    store: BookStore,
    policy: CorsPolicy,
    method: str,
    target: str,
    headers: dict,
    body: bytes,
) -> Reply:
    """The whole API as one function from a request to a reply."""
    found = route(target)
    if found is None:
        reply = text_reply(404, "no such resource")
    elif method == "OPTIONS":
        return options_reply(policy, ALLOW[found[0]], headers)
    elif method in ("GET", "HEAD"):
        reply = get_reply(store, *found, headers)
    elif method == "PUT" and found[0] == "item":
        reply = put_reply(store, found[1], headers, body)
    else:
        reply = text_reply(405, "method not allowed", Allow=ALLOW[found[0]])
    reply.headers.setdefault("Vary", "Origin")
    reply.headers.update(response_cors_headers(policy, headers.get("origin")))
    return reply


# --8<-- [end:answer]


# --8<-- [start:limits]
from snippets.communication.http_messages.message_server import (
    TIMEOUT,
    FramedRequestHandler,
)

MAX_BODY = 16 * 1024  # bytes of request content we agree to read


# --8<-- [end:limits]


# --8<-- [start:server]
import contextlib
from collections.abc import Iterator
from http.server import ThreadingHTTPServer


class ApiServer(ThreadingHTTPServer):
    """A threading HTTP server on a free loopback port that serves one store."""

    def __init__(self, store: BookStore, policy: CorsPolicy) -> None:
        super().__init__(("127.0.0.1", 0), ApiHandler)
        self.store, self.policy = store, policy


class ApiHandler(FramedRequestHandler):
    """Moves bytes between the socket and `answer`; holds no API rule itself."""

    protocol_version = "HTTP/1.1"  # keep-alive: many requests per connection
    max_body = MAX_BODY  # a larger Content-Length gets 413 before do_GET runs
    reads_body = True
    timeout = TIMEOUT  # seconds a connection may sit idle or half-sent
    server: ApiServer

    def do_GET(self) -> None:
        """Read the request content (framing checked already), answer, write."""
        content = self.rfile.read(self.content_length)
        fields = {
            name.lower(): ", ".join(self.headers.get_all(name))
            for name in self.headers
        }
        store, policy = self.server.store, self.server.policy
        self.send_reply(
            answer(store, policy, self.command, self.path, fields, content)
        )

    do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def send_reply(self, reply: Reply) -> None:
        """Write a reply; HEAD gets the headers of GET and no body."""
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        # RFC 9110 8.6: 204 MUST NOT, 304 need not
        if reply.status not in (204, 304):
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the demo's output to what the page shows."""


# --8<-- [end:server]


# --8<-- [start:running]
SAMPLE_BOOKS = (
    {"id": 1, "title": "Kindred", "author": "Octavia E. Butler", "year": 1979},
    {
        "id": 2,
        "title": "Invisible Cities",
        "author": "Italo Calvino",
        "year": 1972,
    },
)
APP_ORIGIN = "https://app.example"
DEMO_POLICY = CorsPolicy(origins=frozenset({APP_ORIGIN}))


@contextlib.contextmanager
def running_api(policy: CorsPolicy = DEMO_POLICY) -> Iterator[tuple[str, int]]:
    """Serve a fresh store of the sample books; yield (host, port); then
    stop."""
    server = ApiServer(BookStore(SAMPLE_BOOKS), policy)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()  # stop the accept loop...
        server.server_close()  # ...close the listening socket...
        # ...and wait for the serving thread to end
        thread.join(timeout=TIMEOUT)


# --8<-- [end:running]


# --8<-- [start:client]
import http.client


def call(
    address: tuple[str, int],
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection: (status, headers, body)."""
    conn = http.client.HTTPConnection(*address, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


# --8<-- [end:client]


if __name__ == "__main__":
    # fmt: off
    # (ruff format would turn the `#>` output lines into `# >`, which the docs
    # test does not read as output.)
    # --8<-- [start:demo_negotiate]
    offers = ("application/json", "text/csv")
    print(negotiate("text/csv;q=0.9, application/json;q=0.5", offers))
    #> text/csv
    print(negotiate("text/*;q=0.8, */*;q=0.1", offers))
    #> text/csv
    print(negotiate("application/json;q=0, */*;q=0.2", offers))
    #> text/csv
    print(negotiate("image/png", offers))
    #> None
    print(negotiate(None, offers), negotiate("*/*", offers))
    #> application/json application/json
    print(len(parse_accept("text/html, text/*;q=0.5, bad//x, text/csv;q=2")))
    #> 2
    # --8<-- [end:demo_negotiate]

    # --8<-- [start:demo_etags]
    tag = strong_etag(b'{"id":1}')
    print(tag)
    #> "037c9214eef74cc3887f3a4f085b4e17"
    print(if_none_match_passes(tag, tag), if_none_match_passes("W/" + tag, tag))
    #> False False
    print(if_none_match_passes('"something-else"', tag))
    #> True
    print(if_match_passes(tag, [tag]), if_match_passes("W/" + tag, [tag]))
    #> True False
    print(entity_tags('"a,b", W/"c"'))
    #> ['"a,b"', 'W/"c"']
    # --8<-- [end:demo_etags]

    # --8<-- [start:demo_cors]
    policy = CorsPolicy(origins=frozenset({"https://app.example"}))
    granted = preflight_headers(
        policy, "https://app.example", "PUT", "content-type,if-match"
    )
    for name, value in granted.items():
        print(f"{name}: {value}")
        #> Access-Control-Allow-Origin: https://app.example
        #> Access-Control-Allow-Methods: GET, HEAD, PUT
        #> Access-Control-Allow-Headers: content-type, if-match
        #> Access-Control-Max-Age: 600
    print(preflight_headers(policy, "https://evil.example", "PUT", "if-match"))
    #> {}
    print(preflight_headers(policy, "https://app.example", "DELETE", ""))
    #> {}
    # --8<-- [end:demo_cors]

    # --8<-- [start:demo_conditional_get]
    with running_api() as address:
        conn = http.client.HTTPConnection(*address, timeout=TIMEOUT)
        try:
            conn.request(
                "GET", "/books/1", headers={"Accept": "application/json"}
            )
            first = conn.getresponse()
            print(first.status)
            #> 200
            print(first.read().decode())
            #> {"id":1,"title":"Kindred","author":"Octavia E. Butler","year":1979}
            print(
                first.getheader("Cache-Control"), "|", first.getheader("Vary")
            )
            #> public, max-age=60 | Accept, Origin
            etag = first.getheader("ETag")
            conn.request(  # the same connection: a 304 must leave it usable
                "GET",
                "/books/1",
                headers={"Accept": "application/json", "If-None-Match": etag},
            )
            second = conn.getresponse()
            print(
                second.status, second.read(), second.getheader("ETag") == etag
            )
            #> 304 b'' True
        finally:
            conn.close()
    # --8<-- [end:demo_conditional_get]

    # --8<-- [start:demo_negotiate_http]
    import urllib.error
    import urllib.request

    with running_api() as (host, port):
        url = f"http://{host}:{port}/books"
        wants_csv = {"Accept": "text/csv, application/json;q=0.5"}
        request = urllib.request.Request(url, headers=wants_csv)
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            print(response.headers["Content-Type"])
            #> text/csv; charset=utf-8
            for line in response.read().decode().splitlines():
                print(line)
                #> id,title,author,year
                #> 1,Kindred,Octavia E. Butler,1979
                #> 2,Invisible Cities,Italo Calvino,1972
        request = urllib.request.Request(url, headers={"Accept": "image/png"})
        try:
            urllib.request.urlopen(request, timeout=TIMEOUT)
        except urllib.error.HTTPError as error:
            with error:
                print(error.code, error.read().decode().strip())
                #> 406 available: application/json, text/csv
    # --8<-- [end:demo_negotiate_http]

    # --8<-- [start:demo_cors_http]
    with running_api() as address:
        for origin in ("https://app.example", "https://evil.example"):
            status, headers, _ = call(
                address,
                "OPTIONS",
                "/books/1",
                {
                    "Origin": origin,
                    "Access-Control-Request-Method": "PUT",
                    "Access-Control-Request-Headers": "content-type,if-match",
                },
            )
            cors = [
                name for name in headers if name.startswith("Access-Control-")
            ]
            print(status, origin, headers["Vary"], len(cors))
            #> 204 https://app.example Origin 4
            #> 204 https://evil.example Origin 0
    # --8<-- [end:demo_cors_http]

    # --8<-- [start:demo_put]
    with running_api() as address:
        _, headers, _ = call(address, "GET", "/books/2")
        seen = headers["ETag"]  # Alice and Bob both read this version
        edit = {
            "title": "Invisible Cities",
            "author": "Italo Calvino",
            "year": 1974,
        }
        body = json.dumps(edit).encode()
        sending = {"Content-Type": "application/json", "If-Match": seen}
        alice, _, _ = call(address, "PUT", "/books/2", sending, body)
        bob, _, text = call(address, "PUT", "/books/2", sending, body)
        print(alice, bob, text.decode().strip())
        #> 204 412 the book changed since you read it
        del sending["If-Match"]
        print(call(address, "PUT", "/books/2", sending, body)[0])
        #> 428
        _, headers, now = call(address, "GET", "/books/2")
        print(headers["ETag"] != seen, json.loads(now)["year"])
        #> True 1974
    # --8<-- [end:demo_put]
    # fmt: on
