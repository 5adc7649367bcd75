"""The APIs page's claims: negotiation, ETags and 304s, If-Match and 412, CORS.

Oracles: http.client and urllib.request talk to our server on loopback; h11 reads the
raw bytes of a keep-alive conversation (200, 304, 204, 412) as valid HTTP/1.1; the csv
module reads our CSV back; and, where a Chromium is installed, a real browser enforces
our CORS answers (the only client that does).
"""

import csv
import http.client
import io
import json
import socket
import string
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.communication import apis
from tests.helpers import TIMEOUT, raw_exchange

ALLOWED = apis.APP_ORIGIN
PREFLIGHT = {
    "Access-Control-Request-Method": "PUT",
    "Access-Control-Request-Headers": "content-type,if-match",
}


@pytest.fixture
def api() -> Iterator[tuple[str, int]]:
    with apis.running_api() as address:
        yield address


def cors_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower().startswith("access-control-")}


def new_book(year: int = 1974) -> bytes:
    book = {"title": "Invisible Cities", "author": "Italo Calvino", "year": year}
    return json.dumps(book).encode()


# --- Accept: parsing and negotiation (RFC 9110 sections 12.4.2 and 12.5.1) ----------


def test_parse_accept_reads_types_weights_and_the_default_weight() -> None:
    ranges = apis.parse_accept("Text/CSV;q=0.5, application/json , */*;q=0")
    assert ranges == [
        apis.MediaRange("text", "csv", 0.5),
        apis.MediaRange("application", "json", 1.0),
        apis.MediaRange("*", "*", 0.0),
    ]


def test_q_is_read_in_any_position_and_any_case() -> None:
    ranges = apis.parse_accept("text/csv;Q=0.25;charset=utf-8, text/plain; q = 1.000")
    assert [r.q for r in ranges] == [0.25, 1.0]


@pytest.mark.parametrize(
    "element",
    [
        "text/csv;q=2",  # above 1
        "text/csv;q=0.1234",  # more than three decimals
        "text/csv;q=abc",
        "text/csv;q=",
        "text/csv;q=-0",
        "text/csv;q=١",  # a digit, but not an ASCII one
        "*/csv",  # a wildcard type needs a wildcard subtype
        "text",
        "text/",
        "/csv",
        "te xt/csv",
        "",
    ],
)
def test_parse_accept_skips_a_malformed_element_and_keeps_the_rest(element) -> None:
    assert apis.parse_accept(f"{element}, application/json") == [
        apis.MediaRange("application", "json", 1.0)
    ]


def test_parse_accept_refuses_a_header_over_the_limit() -> None:
    with pytest.raises(apis.HeaderTooLong, match="limit 1024"):
        apis.parse_accept("text/csv, " * 200)


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        ("text/csv;q=0.9, application/json;q=0.5", "text/csv"),
        ("text/*;q=0, text/csv", "text/csv"),  # the exact type beats text/*
        ("text/csv;q=0, text/*", None),  # ...also when it says 0
        ("*/*;q=0.5, application/json;q=0", "text/csv"),
        ("text/*;q=0.3, */*;q=0.1", "text/csv"),
        ("application/json;q=0.5, text/csv;q=0.5", "application/json"),  # tie: ours
        ("image/png", None),
        ("*/*;q=0", None),
        (None, "application/json"),  # no Accept: anything goes
        ("", "application/json"),
        ("!!!", "application/json"),  # nothing usable: as if absent
    ],
)
def test_negotiate_applies_weights_and_the_most_specific_range(accept, chosen) -> None:
    assert apis.negotiate(accept, apis.OFFERS) == chosen


@settings(max_examples=200)
@given(
    st.one_of(
        st.text(max_size=1200),
        st.text(alphabet=" ,;=/*.qQ0123456789abcjsonvWt-+\t", max_size=200),
    )
)
def test_parse_accept_never_crashes_on_arbitrary_text(value: str) -> None:
    try:
        ranges = apis.parse_accept(value)
    except apis.HeaderTooLong:
        assert len(value) > apis.MAX_ACCEPT
        return
    for r in ranges:
        assert 0.0 <= r.q <= 1.0
        assert apis.TOKEN.fullmatch(r.type)
        assert apis.TOKEN.fullmatch(r.subtype)
        assert r.type == r.type.lower()
        assert r.subtype == r.subtype.lower()
    assert apis.negotiate(value, apis.OFFERS) in (*apis.OFFERS, None)


qvalues = st.integers(min_value=0, max_value=1000).map(
    lambda n: "1" if n == 1000 else f"0.{n:03d}"
)
noise = st.lists(
    st.sampled_from(["image/png", "text/html", "application/xml", "video/*"]),
    max_size=3,
)


@settings(max_examples=200)
@given(st.lists(qvalues, min_size=2, max_size=2), noise, st.randoms())
def test_negotiate_picks_the_offer_with_the_highest_q(qs, others, rnd) -> None:
    elements = [f"{offer};q={q}" for offer, q in zip(apis.OFFERS, qs, strict=True)]
    elements += [f"{other};q=1" for other in others]
    rnd.shuffle(elements)
    weights = [float(q) for q in qs]
    best = max(weights)
    expected = apis.OFFERS[weights.index(best)] if best > 0 else None
    assert apis.negotiate(", ".join(elements), apis.OFFERS) == expected


media_ranges = st.builds(
    apis.MediaRange,
    type=st.sampled_from(["text", "application", "image"]),
    subtype=st.text(alphabet=string.ascii_lowercase + "+-.", min_size=1, max_size=8),
    q=st.integers(min_value=0, max_value=1000).map(lambda n: n / 1000),
) | st.builds(apis.MediaRange, st.just("*"), st.just("*"), st.just(0.5))


@settings(max_examples=100)
@given(st.lists(media_ranges, max_size=8))
def test_formatted_media_ranges_parse_back_to_themselves(ranges) -> None:
    text = ", ".join(f"{r.type}/{r.subtype};q={r.q:.3f}" for r in ranges)
    assert apis.parse_accept(text) == ranges


# --- ETags and preconditions (RFC 9110 sections 8.8.3, 13.1.1, 13.1.2) ---------------


@settings(max_examples=100)
@given(st.binary(max_size=64), st.binary(max_size=64))
def test_a_strong_etag_is_a_valid_entity_tag_that_follows_the_bytes(a, b) -> None:
    tag = apis.strong_etag(a)
    assert apis.ENTITY_TAG.fullmatch(tag)
    assert not tag.startswith("W/")
    assert (apis.strong_etag(b) == tag) == (a == b)


def test_if_none_match_uses_the_weak_comparison() -> None:
    tag = apis.strong_etag(b"x")
    assert not apis.if_none_match_passes(tag, tag)
    assert not apis.if_none_match_passes(f"W/{tag}", tag)
    assert not apis.if_none_match_passes(f'"old", {tag}', tag)
    assert not apis.if_none_match_passes(" * ", tag)
    assert apis.if_none_match_passes('"old", W/"older"', tag)
    assert apis.if_none_match_passes("not a tag", tag)


def test_if_match_uses_the_strong_comparison() -> None:
    tag = apis.strong_etag(b"x")
    assert apis.if_match_passes(tag, [tag])
    assert apis.if_match_passes(f'"old", {tag}', ['"other"', tag])
    assert apis.if_match_passes("*", [tag])
    assert not apis.if_match_passes(f"W/{tag}", [tag])  # a weak tag never matches
    assert not apis.if_match_passes('"old"', [tag])


opaque = st.text(  # etagc: %x21 / %x23-7E / obs-text (0x80-0xFF, as latin-1)
    alphabet=st.characters(
        min_codepoint=0x21, max_codepoint=0xFF, exclude_characters='"\x7f'
    ),
    max_size=12,
)


@settings(max_examples=100)
@given(st.lists(st.tuples(st.booleans(), opaque), min_size=1, max_size=5))
def test_entity_tag_lists_round_trip_even_with_commas_inside(tags) -> None:
    written = [("W/" if weak else "") + f'"{text}"' for weak, text in tags]
    assert apis.entity_tags(" , ".join(written)) == written


# --- CORS decisions (Fetch standard) ---------------------------------------------------


def test_a_preflight_from_an_allowed_origin_gets_every_allow_header() -> None:
    policy = apis.DEMO_POLICY
    assert apis.preflight_headers(policy, ALLOWED, "PUT", "content-type,if-match") == {
        "Access-Control-Allow-Origin": ALLOWED,
        "Access-Control-Allow-Methods": "GET, HEAD, PUT",
        "Access-Control-Allow-Headers": "content-type, if-match",
        "Access-Control-Max-Age": "600",
    }


@pytest.mark.parametrize(
    ("origin", "method", "asked"),
    [
        ("https://evil.example", "PUT", "if-match"),
        ("https://app.example.evil.example", "PUT", ""),  # no suffix or prefix match
        ("https://APP.example", "PUT", ""),  # browsers send origins lowercased
        ("null", "PUT", ""),
        (None, "PUT", ""),
        (ALLOWED, "DELETE", ""),
        (ALLOWED, "put", ""),  # methods are case-sensitive
        (ALLOWED, "PUT", "if-match, x-admin"),
    ],
)
def test_a_preflight_that_asks_for_too_much_gets_no_cors_header(
    origin, method, asked
) -> None:
    assert apis.preflight_headers(apis.DEMO_POLICY, origin, method, asked) == {}


def test_an_actual_response_exposes_etag_only_to_an_allowed_origin() -> None:
    assert apis.response_cors_headers(apis.DEMO_POLICY, ALLOWED) == {
        "Access-Control-Allow-Origin": ALLOWED,
        "Access-Control-Expose-Headers": "ETag",
    }
    assert apis.response_cors_headers(apis.DEMO_POLICY, "https://evil.example") == {}
    assert apis.response_cors_headers(apis.DEMO_POLICY, None) == {}


# --- The whole API as a function: bad input gets a 4xx, never an exception ------------

header_text = st.text(max_size=60) | st.sampled_from(
    ["*", '"x"', "W/", "application/json", "text/*;q=0", ALLOWED]
)


@settings(max_examples=100)
@given(
    method=st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"]),
    target=st.sampled_from(["/books", "/books/1", "/books/9", "/x", "/books/01"])
    | st.text(max_size=20),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "accept",
                "if-none-match",
                "if-match",
                "origin",
                "content-type",
                "access-control-request-method",
                "access-control-request-headers",
            ]
        ),
        header_text,
    ),
    body=st.binary(max_size=64) | st.just(new_book()),
)
def test_answer_never_raises_and_never_answers_5xx(method, target, headers, body):
    store = apis.BookStore(apis.SAMPLE_BOOKS)
    reply = apis.answer(store, apis.DEMO_POLICY, method, target, headers, body)
    assert 200 <= reply.status < 500
    assert "Origin" in reply.headers["Vary"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"[" * 5000, "not JSON"),  # nesting deep enough to exhaust the recursion limit
        (b'{"title": "x"}', "exactly"),
        (b'{"title": "x", "author": "y", "year": 1, "id": 9}', "exactly"),
        (b'{"title": "x", "author": "y", "year": true}', "integer"),
        (b'{"title": 1, "author": "y", "year": 1}', "strings"),
    ],
)
def test_a_bad_put_body_gets_400_and_changes_nothing(body, message) -> None:
    store = apis.BookStore(apis.SAMPLE_BOOKS)
    reply = apis.get_reply(store, "item", 2, {})
    headers = {"content-type": "application/json", "if-match": reply.headers["ETag"]}
    put = apis.answer(store, apis.DEMO_POLICY, "PUT", "/books/2", headers, body)
    assert put.status == 400
    assert message in put.body.decode()
    assert store.read(2) == apis.SAMPLE_BOOKS[1]


# --- Oracle: http.client, urllib.request and h11 against the server on loopback -----


def test_second_get_with_if_none_match_gets_304_and_an_empty_body(api) -> None:
    conn = http.client.HTTPConnection(*api, timeout=TIMEOUT)
    try:
        conn.request("GET", "/books/1", headers={"Accept": "application/json"})
        first = conn.getresponse()
        body = first.read()
        etag = first.getheader("ETag")
        conn.request("GET", "/books/1", headers={"If-None-Match": etag})
        second = conn.getresponse()
        assert (second.status, second.read()) == (304, b"")
        # RFC 9110 15.4.5: the 304 repeats the validators and caching fields.
        for name in ("ETag", "Cache-Control", "Vary"):
            assert second.getheader(name) == first.getheader(name)
        assert second.getheader("Content-Type") is None
        # The 304 ended at its header section, so the connection is still in step.
        conn.request("GET", "/books/1")
        third = conn.getresponse()
        assert (third.status, third.read()) == (200, body)
    finally:
        conn.close()


def test_urllib_sees_a_304_with_no_body_for_the_weak_form_and_for_star(api) -> None:
    url = "http://{}:{}/books".format(*api)
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        etag = response.headers["ETag"]
        assert response.status == 200
        assert json.loads(response.read())[0]["title"] == "Kindred"
    for condition in (etag, f"W/{etag}", f'"stale", {etag}', "*"):
        request = urllib.request.Request(url, headers={"If-None-Match": condition})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=TIMEOUT)
        with caught.value as error:
            assert (error.code, error.read()) == (304, b"")
            assert error.headers["ETag"] == etag
            assert error.headers["Cache-Control"] == "no-cache"


def test_a_stale_if_none_match_gets_the_full_200(api) -> None:
    status, headers, body = apis.call(
        api, "GET", "/books/1", {"If-None-Match": '"stale"'}
    )
    assert status == 200
    assert headers["ETag"] == apis.strong_etag(body)


def test_each_representation_has_its_own_etag_and_says_it_varies(api) -> None:
    _, as_json, _ = apis.call(api, "GET", "/books/1", {"Accept": "application/json"})
    status, as_csv, _ = apis.call(
        api, "GET", "/books/1", {"Accept": "text/csv", "If-None-Match": as_json["ETag"]}
    )
    assert status == 200  # the JSON tag does not validate the CSV representation
    assert as_csv["ETag"] != as_json["ETag"]
    assert as_csv["Vary"] == as_json["Vary"] == "Accept, Origin"


def test_accept_text_csv_gets_csv_that_the_csv_module_reads_back(api) -> None:
    url = "http://{}:{}/books".format(*api)
    request = urllib.request.Request(url, headers={"Accept": "text/csv"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        text = response.read().decode()
    assert text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows == [{k: str(v) for k, v in book.items()} for book in apis.SAMPLE_BOOKS]


def test_accept_image_png_gets_406_naming_what_is_available(api) -> None:
    url = "http://{}:{}/books/1".format(*api)
    request = urllib.request.Request(url, headers={"Accept": "image/png"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=TIMEOUT)
    with caught.value as error:
        assert error.code == 406
        assert error.read() == b"available: application/json, text/csv\n"
        assert error.headers["Cache-Control"] == "no-store"


def test_an_accept_header_over_the_limit_gets_431(api) -> None:
    status, _, _ = apis.call(api, "GET", "/books", {"Accept": "text/csv, " * 200})
    assert status == 431


def test_head_gets_the_headers_of_get_and_no_body(api) -> None:
    _, got, body = apis.call(api, "GET", "/books/2")
    status, head, nothing = apis.call(api, "HEAD", "/books/2")
    assert (status, nothing) == (200, b"")
    assert head["Content-Length"] == got["Content-Length"] == str(len(body))
    assert head["ETag"] == got["ETag"]


def test_a_preflight_from_an_allowed_origin_gets_the_allow_headers(api) -> None:
    status, headers, body = apis.call(
        api, "OPTIONS", "/books/1", {"Origin": ALLOWED, **PREFLIGHT}
    )
    assert 200 <= status < 300
    assert body == b""
    assert headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "PUT" in headers["Access-Control-Allow-Methods"].split(", ")
    allowed = headers["Access-Control-Allow-Headers"].lower().split(", ")
    assert {"content-type", "if-match"} <= set(allowed)
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in headers["Vary"]
    assert headers["Allow"] == "GET, HEAD, PUT, OPTIONS"


@pytest.mark.parametrize("origin", ["https://evil.example", "null"])
def test_a_preflight_from_another_origin_gets_no_cors_header(api, origin) -> None:
    _, headers, _ = apis.call(
        api, "OPTIONS", "/books/1", {"Origin": origin, **PREFLIGHT}
    )
    assert cors_headers(headers) == {}
    assert "Origin" in headers["Vary"]


def test_the_server_answers_any_origin_only_the_browser_blocks(api) -> None:
    _, good, _ = apis.call(api, "GET", "/books/1", {"Origin": ALLOWED})
    status, bad, _ = apis.call(api, "GET", "/books/1", {"Origin": "https://evil.ex"})
    assert cors_headers(good)["Access-Control-Expose-Headers"] == "ETag"
    assert status == 200
    assert cors_headers(bad) == {}


def test_put_needs_the_current_etag(api) -> None:
    _, headers, _ = apis.call(api, "GET", "/books/2", {"Accept": "text/csv"})
    csv_tag = headers["ETag"]  # the tag of any current representation will do
    sending = {"Content-Type": "application/json"}
    assert apis.call(api, "PUT", "/books/2", sending, new_book())[0] == 428
    sending["If-Match"] = '"stale"'
    assert apis.call(api, "PUT", "/books/2", sending, new_book())[0] == 412
    sending["If-Match"] = f"W/{csv_tag}"
    assert apis.call(api, "PUT", "/books/2", sending, new_book())[0] == 412
    sending["If-Match"] = csv_tag
    status, answered, body = apis.call(api, "PUT", "/books/2", sending, new_book())
    assert (status, body) == (204, b"")
    assert "ETag" not in answered  # RFC 9110 9.3.4: we stored a re-encoding
    assert apis.call(api, "PUT", "/books/2", sending, new_book(1999))[0] == 412
    _, _, now = apis.call(api, "GET", "/books/2")
    assert json.loads(now)["year"] == 1974


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("PUT", "/books/7", {"If-Match": "*"}, 404),
        ("PUT", "/books/1", {"Content-Type": "text/plain", "If-Match": "*"}, 415),
        ("PUT", "/books", {"Content-Type": "application/json", "If-Match": "*"}, 405),
        ("POST", "/books", {}, 405),
        ("DELETE", "/books/1", {}, 405),
        ("GET", "/authors", {}, 404),
        ("GET", "/books/0", {}, 404),
    ],
)
def test_requests_the_api_does_not_serve_get_the_right_4xx(
    api, method, path, headers, status
) -> None:
    got, answered, _ = apis.call(api, method, path, headers, new_book())
    assert got == status
    if status == 405:  # RFC 9110 15.5.6: a 405 says which methods would work
        assert answered["Allow"] == apis.ALLOW[apis.route(path)[0]]


def test_concurrent_puts_with_the_same_etag_let_exactly_one_win(api) -> None:
    _, headers, _ = apis.call(api, "GET", "/books/1")
    sending = {"Content-Type": "application/json", "If-Match": headers["ETag"]}
    start = threading.Barrier(8, timeout=TIMEOUT)
    statuses: list[int] = []

    def writer(year: int) -> None:
        start.wait()
        statuses.append(apis.call(api, "PUT", "/books/1", sending, new_book(year))[0])

    threads = [threading.Thread(target=writer, args=(2000 + i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(statuses) == [204] + [412] * 7


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"Content-Length: 999999\r\n", b"413"),
        (b"Content-Length: 12x\r\n", b"400"),
        (b"Transfer-Encoding: chunked\r\n", b"411"),
    ],
)
def test_bodies_we_will_not_read_get_a_4xx_and_a_closed_connection(
    api, headers, status
) -> None:
    request = b"PUT /books/1 HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n"
    answer = raw_exchange(api, request)  # returns only because the server closed
    assert answer.startswith(b"HTTP/1.1 " + status)
    assert b"\r\nConnection: close\r\n" in answer


def test_h11_reads_a_keep_alive_conversation_as_valid_http(api) -> None:
    """Oracle: a strict HTTP/1.1 parser frames 200, 304, 204 and 412 without a body."""
    client = h11.Connection(our_role=h11.CLIENT)
    host = [("Host", "127.0.0.1")]
    seen: list[tuple[int, bytes]] = []
    with socket.create_connection(api, timeout=TIMEOUT) as sock:

        def exchange(method: str, extra: list[tuple[str, str]], body=b"") -> dict:
            headers = host + extra + [("Content-Length", str(len(body)))]
            sock.sendall(
                client.send(
                    h11.Request(method=method, target="/books/1", headers=headers)
                )
            )
            sock.sendall(
                client.send(h11.Data(data=body)) + client.send(h11.EndOfMessage())
            )
            data, response = b"", None
            while True:
                event = client.next_event()
                if event is h11.NEED_DATA:
                    client.receive_data(sock.recv(4096))
                elif isinstance(event, h11.Response):
                    response = event
                elif isinstance(event, h11.Data):
                    data += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
            client.start_next_cycle()
            seen.append((response.status_code, data))
            return {k.decode(): v.decode() for k, v in response.headers}

        etag = exchange("GET", [])["etag"]
        exchange("GET", [("If-None-Match", etag)])
        exchange("OPTIONS", [("Origin", ALLOWED), *PREFLIGHT.items()])
        put = [("Content-Type", "application/json"), ("If-Match", '"stale"')]
        exchange("PUT", put, new_book())
    assert [status for status, _ in seen] == [200, 304, 204, 412]
    assert seen[1][1] == seen[2][1] == b""


# --- Oracle: a real browser enforces the CORS answers ---------------------------------

PAGE = b"""<!doctype html><meta charset="utf-8"><title>client</title>
<script>
async function tryApi(api) {
  try {
    const got = await fetch(api + "/books/1");
    const etag = got.headers.get("ETag");
    const put = await fetch(api + "/books/1", {
      method: "PUT",
      headers: {"Content-Type": "application/json", "If-Match": etag},
      body: JSON.stringify({title: "Kindred", author: "Octavia E. Butler", year: 1980}),
    });
    return {etag: etag, put: put.status};
  } catch (error) {
    return {error: String(error)};
  }
}
</script>"""


@pytest.mark.browser
def test_chromium_runs_the_preflight_and_obeys_the_answer(monkeypatch, browser) -> None:
    """An allowed page reads the ETag and PUTs after a preflight; another page cannot."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class PageHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    received: list[tuple[str, str | None, int]] = []  # what the API saw, in order
    real_answer = apis.answer

    def recording_answer(store, policy, method, target, headers, body):
        reply = real_answer(store, policy, method, target, headers, body)
        received.append((method, headers.get("origin"), reply.status))
        return reply

    monkeypatch.setattr(apis, "answer", recording_answer)
    pages = [ThreadingHTTPServer(("127.0.0.1", 0), PageHandler) for _ in range(2)]
    threads = [threading.Thread(target=p.serve_forever, daemon=True) for p in pages]
    for thread in threads:
        thread.start()
    good, evil = [f"http://127.0.0.1:{p.server_address[1]}" for p in pages]
    try:
        with apis.running_api(apis.CorsPolicy(frozenset({good}))) as (host, port):
            context = browser.new_context()
            try:
                page = context.new_page()
                page.goto(good)
                allowed = page.evaluate("api => tryApi(api)", f"http://{host}:{port}")
                page.goto(evil)
                refused = page.evaluate("api => tryApi(api)", f"http://{host}:{port}")
            finally:
                context.close()
    finally:
        for server in pages:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(timeout=TIMEOUT)
    assert allowed["etag"].startswith('"')
    assert allowed["put"] == 204
    assert "error" in refused  # fetch rejects: the page never sees the response
    assert received[:3] == [
        ("GET", good, 200),
        ("OPTIONS", good, 204),
        ("PUT", good, 204),
    ]
    assert received[3:] == [("GET", evil, 200)]  # served, then blocked by the browser
