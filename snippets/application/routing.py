"""Routing: from a method and a path to a handler and its typed parameters.

What it teaches: how a router turns `/users/{user_id:int}` into a regular
expression with typed converters, picks the most specific route when several
match (a static segment beats a parameter, an `int` beats a `str`, a `path`
comes last), dispatches on the method, answers 404 or 405 with an `Allow` header
(RFC 9110 section 15.5.6), serves HEAD with the GET handler, redirects a path
that differs only by a trailing slash with a 308, and builds URLs back from a
route's name and parameters (`url_for`), refusing any value that would not match
the same route again. The router is itself a handler of the application core: it
takes a `Request`, puts the converted (typed) path parameters into
`request.params` with `dataclasses.replace`, and calls the route's handler.

Read first: the app_core page (`docs/application/app_core.md`, "The application
core"): `Request`, `Response`, `Handler`, `problem` and `serving` come from
`snippets.application.app_core`, which this module imports and builds on.

What it leaves out: routing on the host name or on headers (content
negotiation), mounting sub-applications under a prefix, OPTIONS answered from
the route table, and the radix trees real routers use to match thousands of
routes fast.

Run it: `python -m snippets.application.routing`.
"""

# --8<-- [start:converters]
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Converter:
    """How one kind of path parameter looks in a path, and how it becomes a
    value."""

    regex: str  # what the parameter matches in the decoded path
    # text to value; a ValueError means "this route does not match"
    to_python: Callable[[str], Any]
    # the value as path text, before percent-encoding
    to_url: Callable[[Any], str]
    rank: int  # precedence: a lower rank is more specific


def path_value(text: str) -> str:
    """A `path` parameter: any segments, but no empty, `.` or `..` segment."""
    if any(segment in ("", ".", "..") for segment in text.split("/")):
        raise ValueError(f"refused path segment in {text!r}")
    return text


CONVERTERS = {
    # one spelling per number
    "int": Converter(r"0|[1-9][0-9]*", int, str, rank=1),
    "str": Converter(r"[^/]+", str, str, rank=2),  # one segment, never a slash
    # the rest, newlines too
    "path": Converter(r"(?s:.+)", path_value, str, rank=3),
}
# --8<-- [end:converters]


# --8<-- [start:pattern]
PARAMETER = re.compile(r"{(\w+)(?::(\w+))?}")  # {name} or {name:kind}


class PatternError(ValueError):
    """A route pattern that cannot be compiled, or a route that conflicts."""


@dataclass(frozen=True)
class Pattern:
    """A compiled route pattern such as `/users/{user_id:int}`."""

    text: str
    regex: re.Pattern[str]
    parts: tuple[str | tuple[str, str], ...]  # static text, or (name, kind)
    # one number per segment: 0 static, else the converter's
    rank: tuple[int, ...]

    def match(self, path: str) -> dict[str, Any] | None:
        """The converted parameters if `path` (decoded) matches, else None."""
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        kinds = dict(p for p in self.parts if isinstance(p, tuple))
        try:
            return {
                n: CONVERTERS[kinds[n]].to_python(v)
                for n, v in found.groupdict().items()
            }
        except ValueError:
            # a converter refused the text: this route does not match
            return None

    @property
    def shape(self) -> str:
        """The pattern without parameter names: `/users/{int}`."""
        return "".join(
            p if isinstance(p, str) else f"{{{p[1]}}}" for p in self.parts
        )


# --8<-- [end:pattern]


# --8<-- [start:compile]
def compile_pattern(text: str) -> Pattern:
    """Compile a pattern; refuse unknown kinds, repeated names and a misplaced
    path."""
    if not text.startswith("/"):
        raise PatternError(f"{text!r}: a pattern starts with /")
    regex, parts, position = "", [], 0
    for found in PARAMETER.finditer(text):
        name, kind = found[1], found[2] or "str"
        if kind not in CONVERTERS:
            raise PatternError(f"{text!r}: unknown kind {kind!r}")
        if kind == "path" and found.end() != len(text):
            raise PatternError(f"{text!r}: a path parameter must come last")
        static = text[position : found.start()]
        regex += re.escape(static) + f"(?P<{name}>{CONVERTERS[kind].regex})"
        parts += [static, (name, kind)]
        position = found.end()
    parts.append(text[position:])
    if any("{" in p or "}" in p for p in parts if isinstance(p, str)):
        raise PatternError(f"{text!r}: a brace outside a parameter")
    try:
        compiled = re.compile(regex + re.escape(text[position:]))
    except re.error as error:  # the same name twice
        raise PatternError(f"{text!r}: {error}") from None
    return Pattern(text, compiled, tuple(p for p in parts if p), rank_of(text))


def rank_of(text: str) -> tuple[int, ...]:
    """Per segment: 0 if static, else its converter's rank (int 1, str 2, path
    3)."""
    ranks = []
    for segment in text.split("/"):
        kinds = [found[2] or "str" for found in PARAMETER.finditer(segment)]
        ranks.append(max((CONVERTERS[k].rank for k in kinds), default=0))
    return tuple(ranks)


# --8<-- [end:compile]


# --8<-- [start:router]
from dataclasses import field

from snippets.application.app_core import (
    Handler,
    Request,
    Response,
    problem,
    text,
)


@dataclass(frozen=True)
class Route:
    """One pattern, the methods it answers, its handler and its name for
    `url_for`."""

    pattern: Pattern
    methods: frozenset[str]
    handler: Handler  # the core's contract: a Request in, a Response out
    name: str


@dataclass
class Resolution:
    """What the router decided: 200 with a route, 404, 405 with Allow, or
    308."""

    status: int
    route: Route | None = None
    params: dict[str, Any] = field(default_factory=dict)
    allow: str | None = None  # for a 405: RFC 9110 section 15.5.6
    location: str | None = None  # for a 308: where the canonical path is


def allow_header(methods: set[str]) -> str:
    """The Allow value: the methods in order, with HEAD wherever GET is."""
    return ", ".join(
        sorted(methods | ({"HEAD"} if "GET" in methods else set()))
    )


# --8<-- [end:router]


# --8<-- [start:router_class]
class RouteTable:
    """Routes kept most specific first; ties keep the order they were added
    in."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.names: dict[str, Route] = {}

    def add(self, methods: str, pattern: str, handler: Handler) -> None:
        """Route `methods` (space-separated: "GET POST") on `pattern` to
        `handler`."""
        route = Route(
            compile_pattern(pattern),
            frozenset(methods.split()),
            handler,
            handler.__name__,
        )
        for other in self.routes:
            same = other.pattern.shape == route.pattern.shape
            if (
                same and other.methods & route.methods
            ) or other.name == route.name:
                raise PatternError(
                    f"{methods} {pattern} conflicts with {other.name}"
                )
        self.routes.append(route)
        # stable: ties keep their order
        self.routes.sort(key=lambda r: r.pattern.rank)
        self.names[route.name] = route

    def route(self, methods: str, pattern: str) -> Callable[[Handler], Handler]:
        """The same as `add`, as a decorator."""

        def register(handler: Handler) -> Handler:
            self.add(methods, pattern, handler)
            return handler

        return register


# --8<-- [end:router_class]


# --8<-- [start:resolve]
def resolve(router: RouteTable, method: str, path: str) -> Resolution:
    """Match a decoded path and a method against the routes, most specific
    first."""
    allowed: set[str] = set()
    for route in router.routes:
        params = route.pattern.match(path)
        if params is None:
            continue
        if method in route.methods or (
            method == "HEAD" and "GET" in route.methods
        ):
            # HEAD is GET without the body
            return Resolution(200, route, params)
        allowed |= route.methods  # the path exists, but not for this method
    if allowed:
        return Resolution(405, allow=allow_header(allowed))
    return redirect_or_404(router, path)


def redirect_or_404(router: RouteTable, path: str) -> Resolution:
    """308 to the same path with or without a trailing slash, if a route has
    it."""
    other = path[:-1] if path.endswith("/") else path + "/"
    # "//host" is a URL to another host
    if other.startswith("//") or other == "":
        return Resolution(404)
    if any(route.pattern.match(other) is not None for route in router.routes):
        return Resolution(308, location=urllib.parse.quote(other, safe="/"))
    return Resolution(404)


# --8<-- [end:resolve]


# --8<-- [start:dispatch]
import dataclasses


def dispatch(router: RouteTable, request: Request) -> Response:
    """Turn the router's decision into a response; a route's handler gets the
    params."""
    # what the core put for bytes that are not UTF-8
    if "\ufffd" in request.path:
        return problem(400, "the path is not valid UTF-8")
    found = resolve(router, request.method, request.path)
    # typed values: request.params["user_id"] is an int
    if found.route is not None:
        return found.route.handler(
            dataclasses.replace(request, params=found.params)
        )
    if found.status == 405:
        detail = f"{request.method} is not allowed on {request.path}"
        return problem(405, detail, [("Allow", found.allow)])
    if found.status == 308:
        query = urllib.parse.urlencode(
            request.query, doseq=True, quote_via=urllib.parse.quote
        )  # rebuilt from the parsed query: a space comes out as %20
        location = found.location + (f"?{query}" if query else "")
        return text(f"moved to {location}\n", 308, [("Location", location)])
    return problem(404, f"no route for {request.path}")


class Router(RouteTable):
    """A route table that is also a core `Handler`: call it with a `Request`."""

    def __call__(self, request: Request) -> Response:
        return dispatch(self, request)


# --8<-- [end:dispatch]


# --8<-- [start:url_for]
def fits(converter: Converter, text: str, value: Any) -> bool:
    """Would `text` match this converter and convert back to exactly `value`?"""
    if not re.fullmatch(converter.regex, text):
        return False
    try:
        return converter.to_python(text) == value
    except ValueError:
        return False


def url_for(router: RouteTable, name: str, /, **params: Any) -> str:
    """Build the percent-encoded path of a named route from its parameters.

    Refuses a value that would not come back unchanged from the same route.
    """
    route = router.names[name]
    if set(params) != {
        p[0] for p in route.pattern.parts if isinstance(p, tuple)
    }:
        raise ValueError(f"{name} takes other parameters than {sorted(params)}")
    path = ""
    for part in route.pattern.parts:
        if isinstance(part, str):
            path += part
            continue
        converter, value = CONVERTERS[part[1]], params[part[0]]
        if not fits(converter, text := converter.to_url(value), value):
            raise ValueError(
                f"{part[0]}={value!r} does not fit {{{part[0]}:{part[1]}}}"
            )
        path += text
    return urllib.parse.quote(path, safe="/")


# --8<-- [end:url_for]


# --8<-- [start:example_routes]
router = Router()


@router.route("GET", "/")
def home(request: Request) -> Response:
    return text("home\n")


@router.route("GET", "/users/me")
def me(request: Request) -> Response:
    return text("the signed-in user\n")


@router.route("GET", "/users/{user_id:int}")
def show_user(request: Request) -> Response:
    return text(f"user number {request.params['user_id']}\n")


@router.route("DELETE", "/users/{user_id:int}")
def delete_user(request: Request) -> Response:
    return text(f"deleted user {request.params['user_id']}\n")


@router.route("GET", "/users/{name:str}")
def user_by_name(request: Request) -> Response:
    return text(f"user called {request.params['name']}\n")


@router.route("GET", "/files/{file_path:path}")
def download(request: Request) -> Response:
    return text(f"file {request.params['file_path']}\n")


@router.route("GET POST", "/posts/")
def posts(request: Request) -> Response:
    return text("posts\n")


# --8<-- [end:example_routes]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_resolve]
    for method, path in [
        ("GET", "/users/me"),
        ("GET", "/users/42"),
        ("GET", "/users/ada"),
        ("GET", "/users/042"),
        ("HEAD", "/users/42"),
        ("POST", "/users/42"),
        ("GET", "/files/docs/a.txt"),
        ("GET", "/files/../secret"),
        ("GET", "/posts"),
    ]:
        found = resolve(router, method, path)
        name = found.route.name if found.route else "-"
        extra = found.allow or found.location
        print(method, path, found.status, name, found.params, extra)
        #> GET /users/me 200 me {} None
        #> GET /users/42 200 show_user {'user_id': 42} None
        #> GET /users/ada 200 user_by_name {'name': 'ada'} None
        #> GET /users/042 200 user_by_name {'name': '042'} None
        #> HEAD /users/42 200 show_user {'user_id': 42} None
        #> POST /users/42 405 - {} DELETE, GET, HEAD
        #> GET /files/docs/a.txt 200 download {'file_path': 'docs/a.txt'} None
        #> GET /files/../secret 404 - {} None
        #> GET /posts 308 - {} /posts/
    # --8<-- [end:demo_resolve]
    # --8<-- [start:demo_url_for]
    print(url_for(router, "show_user", user_id=7))
    #> /users/7
    print(url_for(router, "user_by_name", name="Zoë & co?"))
    #> /users/Zo%C3%AB%20%26%20co%3F
    print(url_for(router, "download", file_path="a b/c.txt"))
    #> /files/a%20b/c.txt
    try:
        url_for(router, "user_by_name", name="a/b")
    except ValueError as error:
        print(error)
        #> name='a/b' does not fit {name:str}
    # --8<-- [end:demo_url_for]
    # --8<-- [start:demo_http]
    from snippets.application.app_core import call, serving

    with serving(router) as server:
        reply = call(server, "GET", "/users/42")
        print(reply.status, reply.body)
        #> 200 b'user number 42\n'
        reply = call(server, "HEAD", "/users/42")
        print(reply.status, reply.header("content-length"), reply.body)
        #> 200 15 b''
        reply = call(server, "PUT", "/users/42")
        print(reply.status, reply.header("allow"), reply.json()["detail"])
        #> 405 DELETE, GET, HEAD PUT is not allowed on /users/42
        reply = call(server, "GET", "/posts?page=2")
        print(reply.status, reply.header("location"))
        #> 308 /posts/?page=2
        reply = call(server, "GET", url_for(router, "user_by_name", name="Zoë"))
        print(reply.status, reply.body.decode("utf-8").strip())
        #> 200 user called Zoë
        reply = call(server, "GET", "/nowhere")
        print(reply.status, reply.json()["title"])
        #> 404 Not Found
    # --8<-- [end:demo_http]
