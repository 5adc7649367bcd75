"""The routing page's claims: a table of cases, a real client, and url_for round trips.

Oracle: `http.client` (the shared test client) and `urllib.request` (which follows
redirects) against the router served by the application core's `serving`; RFC 9110
section 15.5.6 (a 405 MUST carry Allow), section 9.3.2 (HEAD: the GET fields, no
content) and section 15.4.9 (308 keeps the method) for what the answers must contain.
"""

import dataclasses
import itertools
import re
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from snippets.application.app_core import Request, Response, serving, text
from snippets.application.routing import (
    PatternError,
    Router,
    compile_pattern,
    dispatch,
    resolve,
    router,
    url_for,
)
from tests.helpers import TIMEOUT, http_request
from tests.site.docs_tools import ROOT

# (method, decoded path) -> (status, handler name, params, Allow or Location)
TABLE = [
    ("GET", "/", 200, "home", {}, None),
    ("GET", "/users/me", 200, "me", {}, None),  # static beats {user_id:int}
    ("GET", "/users/42", 200, "show_user", {"user_id": 42}, None),  # int beats str
    ("GET", "/users/0", 200, "show_user", {"user_id": 0}, None),
    ("GET", "/users/ada", 200, "user_by_name", {"name": "ada"}, None),
    ("GET", "/users/042", 200, "user_by_name", {"name": "042"}, None),  # not canonical
    ("GET", "/users/-1", 200, "user_by_name", {"name": "-1"}, None),
    ("GET", "/users/café", 200, "user_by_name", {"name": "café"}, None),
    ("DELETE", "/users/42", 200, "delete_user", {"user_id": 42}, None),
    ("HEAD", "/users/42", 200, "show_user", {"user_id": 42}, None),  # HEAD via GET
    ("HEAD", "/posts/", 200, "posts", {}, None),
    ("POST", "/posts/", 200, "posts", {}, None),
    ("POST", "/users/42", 405, None, {}, "DELETE, GET, HEAD"),
    ("PUT", "/users/me", 405, None, {}, "GET, HEAD"),
    ("DELETE", "/users/ada", 405, None, {}, "GET, HEAD"),
    ("DELETE", "/", 405, None, {}, "GET, HEAD"),
    ("PATCH", "/posts/", 405, None, {}, "GET, HEAD, POST"),
    ("GET", "/files/docs/a.txt", 200, "download", {"file_path": "docs/a.txt"}, None),
    ("GET", "/files/a", 200, "download", {"file_path": "a"}, None),
    ("GET", "/files/../secret", 404, None, {}, None),  # no dot segments
    ("GET", "/files/a/./b", 404, None, {}, None),
    ("GET", "/files/a//b", 404, None, {}, None),
    ("GET", "/files/", 404, None, {}, None),
    ("GET", "/posts", 308, None, {}, "/posts/"),  # the canonical form has the slash
    ("POST", "/posts", 308, None, {}, "/posts/"),  # 308 keeps POST a POST
    ("GET", "/users/42/", 308, None, {}, "/users/42"),
    ("GET", "/users/me/", 308, None, {}, "/users/me"),
    ("GET", "/users", 404, None, {}, None),
    ("GET", "/nowhere", 404, None, {}, None),
    ("GET", "//", 308, None, {}, "/"),
    ("GET", "/users/42/posts", 404, None, {}, None),
]


def outcome(router: Router, method: str, path: str) -> tuple[Any, ...]:
    found = resolve(router, method, path)
    name = found.route.name if found.route else None
    return found.status, name, found.params, found.allow or found.location


@pytest.mark.parametrize(
    ("method", "path", "status", "handler", "params", "extra"), TABLE
)
def test_the_router_decides_each_case_of_the_table(
    method: str,
    path: str,
    status: int,
    handler: str | None,
    params: dict,
    extra: str | None,
) -> None:
    assert outcome(router, method, path) == (status, handler, params, extra)


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with serving(router) as server:
        yield server


def expected_body(handler: str, method: str, path: str, params: dict) -> bytes:
    """What the route's handler answers when called directly with these params."""
    return router.names[handler].handler(Request(method, path, params=params)).body


HTTP_TABLE = TABLE  # every row, "//" ones included, also over a real socket


@pytest.mark.parametrize(
    ("method", "path", "status", "handler", "params", "extra"), HTTP_TABLE
)
def test_http_client_gets_the_tables_answer_from_a_real_server(
    server,
    method: str,
    path: str,
    status: int,
    handler: str | None,
    params: dict,
    extra: str | None,
) -> None:
    reply = http_request(server, method, quote(path))
    got_extra = reply.header("Allow") or reply.header("Location")
    assert (reply.status, got_extra) == (status, extra)
    if status == 200 and method != "HEAD":
        assert reply.body == expected_body(handler, method, path, params)
    if status == 405:  # RFC 9110 section 15.5.6: a 405 MUST carry Allow
        assert reply.header("Content-Type") == "application/problem+json"
        assert reply.json()["status"] == 405
    if status == 404:
        assert reply.json()["title"] == "Not Found"


def test_the_router_is_a_core_handler_and_fills_typed_params() -> None:
    seen = []

    def spy(request: Request) -> Response:
        seen.append(request)
        return text("ok\n")

    built = Router()
    built.add("GET", "/orders/{order_id:int}/items/{sku}", spy)
    request = Request("GET", "/orders/7/items/a-1", query={"x": ["1"]})
    assert built(request).body == b"ok\n"
    assert seen == [dataclasses.replace(request, params={"order_id": 7, "sku": "a-1"})]
    assert dispatch(built, request).status == 200  # the same, by name


def test_head_gets_the_get_headers_and_no_body(server) -> None:
    get = http_request(server, "GET", "/users/42")
    head = http_request(server, "HEAD", "/users/42")
    assert (get.body, head.body) == (b"user number 42\n", b"")
    for name in ("Content-Length", "Content-Type"):
        assert head.header(name) == get.header(name)


def test_a_redirect_keeps_the_query_string(server) -> None:
    reply = http_request(server, "GET", "/posts?page=2&q=a%20b&tag=x&tag=y")
    assert (reply.status, reply.header("Location")) == (
        308,
        "/posts/?page=2&q=a%20b&tag=x&tag=y",
    )


def test_the_redirect_query_is_encoded_again_with_the_same_meaning(server) -> None:
    """The page: the core parses the query, so q=a+b comes back as q=a%20b."""
    reply = http_request(server, "GET", "/posts?q=a+b&empty=")
    assert reply.header("Location") == "/posts/?q=a%20b&empty="


def test_a_real_client_follows_the_308_to_the_canonical_path(server) -> None:
    host, port = server.server_address[:2]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    url = f"http://{host}:{port}/users/42/"
    with opener.open(url, timeout=TIMEOUT) as answer:
        assert (answer.status, answer.read()) == (200, b"user number 42\n")
        assert answer.url.endswith("/users/42")


def test_a_path_that_is_not_utf8_is_a_400(server) -> None:
    reply = http_request(server, "GET", "/users/%FF")
    assert (reply.status, reply.json()["detail"]) == (
        400,
        "the path is not valid UTF-8",
    )


def test_a_percent_encoded_slash_cannot_sneak_into_a_str_parameter(server) -> None:
    """The path is decoded before matching: a%2Fb is two segments, like a/b."""
    assert http_request(server, "GET", "/users/a%2Fb").status == 404


# ---------------------------------------------------------------------------------------
# Precedence: the most specific route wins, whatever the registration order

ROUTES = [
    ("GET", "/users/{name:str}", "by_name"),
    ("GET", "/users/{user_id:int}", "by_id"),
    ("GET", "/users/me", "me"),
    ("GET", "/{rest:path}", "fallback"),
    ("GET", "/users/{user_id:int}/posts", "posts_of"),
    ("DELETE", "/users/{user_id:int}", "delete"),
]


def build(routes: list[tuple[str, str, str]]) -> Router:
    built = Router()
    for methods, pattern, name in routes:

        def handler(request: Request) -> Response:
            return Response()

        handler.__name__ = name
        built.add(methods, pattern, handler)
    return built


@settings(max_examples=50)
@given(st.permutations(ROUTES))
def test_registration_order_does_not_change_any_decision(order) -> None:
    reference, shuffled = build(ROUTES), build(list(order))
    for method, path in itertools.product(
        ["GET", "DELETE", "PUT"],
        ["/users/me", "/users/7", "/users/bob", "/users/7/posts", "/a/b", "/users"],
    ):
        assert outcome(shuffled, method, path) == outcome(reference, method, path)


def test_precedence_static_then_int_then_str_then_path() -> None:
    built = build(ROUTES)
    assert [
        outcome(built, "GET", p)[1]
        for p in ["/users/me", "/users/7", "/users/bob", "/x"]
    ] == [
        "me",
        "by_id",
        "by_name",
        "fallback",
    ]


def test_a_less_specific_route_answers_a_method_the_specific_one_lacks() -> None:
    built = build(ROUTES)
    assert outcome(built, "DELETE", "/users/7")[:2] == (200, "delete")
    # /users/bob exists for GET only (by_name and fallback): 405, not the DELETE route
    assert outcome(built, "DELETE", "/users/bob") == (405, None, {}, "GET, HEAD")


# ---------------------------------------------------------------------------------------
# Patterns and conflicts refused at start-up


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("users", "starts with /"),
        ("/users/{id:float}", "unknown kind"),
        ("/files/{p:path}/raw", "must come last"),
        ("/a/{x}/{x}", "redefinition"),
        ("/a/{x", "brace"),
        ("/a/x}", "brace"),
    ],
)
def test_bad_patterns_are_refused_with_a_reason(pattern: str, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        compile_pattern(pattern)


def test_a_parameter_without_a_kind_is_a_str() -> None:
    assert compile_pattern("/tags/{tag}").match("/tags/x y") == {"tag": "x y"}


def test_two_routes_of_the_same_shape_and_method_conflict() -> None:
    with pytest.raises(PatternError, match="conflicts"):
        build([("GET", "/u/{a:int}", "one"), ("GET", "/u/{b:int}", "two")])
    with pytest.raises(PatternError, match="conflicts"):
        build([("GET", "/a", "same"), ("GET", "/b", "same")])
    build([("GET", "/u/{a:int}", "one"), ("PUT", "/u/{a:int}", "two")])  # no conflict


def test_a_path_starting_with_two_slashes_is_never_redirected() -> None:
    """Without the guard, //evil.example/ would redirect to //evil.example: another host."""
    built = build([("GET", "//{host:str}", "odd")])
    assert outcome(built, "GET", "//evil.example") == (
        200,
        "odd",
        {"host": "evil.example"},
        None,
    )
    assert outcome(built, "GET", "//evil.example/")[0] == 404


# ---------------------------------------------------------------------------------------
# url_for: the reverse of matching

segment = st.text(min_size=1).filter(lambda s: "/" not in s)
path_text = st.lists(
    segment.filter(lambda s: s not in (".", "..")), min_size=1, max_size=4
).map("/".join)
PARAM_VALUES = {
    "int": st.integers(min_value=0, max_value=10**30),
    "str": segment,
    "path": path_text,
}
PATTERNS = [
    "/users/{user_id:int}",
    "/users/{name:str}",
    "/files/{file_path:path}",
    "/orgs/{org:str}/repos/{repo_id:int}/tree/{rest:path}",
    "/v{version:int}/items/{item}",
]


def named_router(pattern: str) -> Router:
    return build([("GET", pattern, "target")])


@settings(max_examples=100)
@given(data=st.data(), pattern=st.sampled_from(PATTERNS))
def test_url_for_then_match_gives_back_the_same_params(data, pattern: str) -> None:
    kinds = dict(p for p in compile_pattern(pattern).parts if isinstance(p, tuple))
    params = {
        name: data.draw(PARAM_VALUES[kind], label=name) for name, kind in kinds.items()
    }
    built = named_router(pattern)
    url = url_for(built, "target", **params)
    assert re.fullmatch(r"[A-Za-z0-9/%._~-]*", url)  # percent-encoded, ASCII only
    assert built.routes[0].pattern.match(unquote(url)) == params


MATCHING_PATHS = st.one_of(
    st.tuples(st.just(PATTERNS[0]), st.from_regex(r"\A/users/(0|[1-9][0-9]{0,6})\Z")),
    st.tuples(st.just(PATTERNS[1]), st.builds("/users/{}".format, segment)),
    st.tuples(st.just(PATTERNS[2]), st.builds("/files/{}".format, st.text(min_size=1))),
    st.tuples(
        st.just(PATTERNS[3]),
        st.builds(
            "/orgs/{}/repos/{}/tree/{}".format, segment, st.integers(0), path_text
        ),
    ),
    st.tuples(
        st.just(PATTERNS[4]), st.builds("/v{}/items/{}".format, st.integers(0), segment)
    ),
)


@settings(max_examples=100)
@given(MATCHING_PATHS)
def test_any_path_that_matches_a_pattern_round_trips_through_url_for(case) -> None:
    pattern, path = case
    built = named_router(pattern)
    params = built.routes[0].pattern.match(path)
    assume(params is not None)  # e.g. /files/a//b: a refused segment
    assert unquote(url_for(built, "target", **params)) == path


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("show_user", {"user_id": -1}),
        ("show_user", {"user_id": "7"}),
        ("user_by_name", {"name": ""}),
        ("user_by_name", {"name": "a/b"}),
        ("download", {"file_path": "../etc/passwd"}),
        ("download", {"file_path": "a//b"}),
        ("show_user", {"user_id": 1, "extra": 2}),
        ("show_user", {}),
    ],
)
def test_url_for_refuses_values_that_would_not_come_back(
    name: str, params: dict
) -> None:
    with pytest.raises(ValueError, match=r"does not fit|other parameters"):
        url_for(router, name, **params)


def test_a_shadowed_value_builds_a_url_that_another_route_answers() -> None:
    """The pitfall on the page: user_by_name(name="42") is reachable only as /users/42."""
    url = url_for(router, "user_by_name", name="42")
    assert outcome(router, "GET", unquote(url))[1] == "show_user"


@settings(max_examples=50)
@given(name=segment)
def test_a_url_for_link_reaches_its_handler_through_a_real_server(server, name) -> None:
    assume(not re.fullmatch(r"0|[1-9][0-9]*", name) and name != "me")  # shadowed values
    assume("\ufffd" not in name)  # refused as a sign of bytes that were not UTF-8
    reply = http_request(server, "GET", url_for(router, "user_by_name", name=name))
    assert (reply.status, reply.text) == (200, f"user called {name}\n")


def test_the_page_counts_the_table_it_shows() -> None:
    """The page says how many cases the table has; the review found the count off."""
    page = (ROOT / "docs" / "application" / "routing.md").read_text(encoding="utf-8")
    assert f"a table of {len(TABLE)} cases" in page
