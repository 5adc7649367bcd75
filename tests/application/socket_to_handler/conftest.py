"""Cases that two parts' tests share: the reference requests and the bad input.

`request_reading`'s refusals are checked through both servers: `wsgi_server` and
`asgi_server` must answer every bad input with the same status and a close. The WSGI
applications on wsgiref are the reference for both servers' answers.
"""

import pytest

REQUESTS = [
    ("GET", "/hello", None),
    ("GET", "/hello?name=Ada", None),
    ("GET", "/hello?name=J%C3%BCrgen&x=1", None),
    ("HEAD", "/hello?name=Ada", None),
    ("POST", "/echo", b"ping"),
    ("POST", "/echo", b""),
    ("POST", "/echo", bytes(range(256)) * 40),
    ("GET", "/missing", None),
    ("POST", "/hello", b"x"),
    ("GET", "/caf%C3%A9", None),
]

BAD_INPUT = [
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET /\r\nHost: a\r\n\r\n", 400),
    (b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    (b"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", 400),  # a control byte in the target
    (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
    ),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xb2\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n", 413),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nshort", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\n", 400),  # closed inside the head
]


@pytest.fixture(params=REQUESTS, ids=lambda case: f"{case[0]} {case[1]}")
def request_case(request: pytest.FixtureRequest) -> tuple[str, str, bytes | None]:
    """One request of the reference table: method, target and body."""
    return request.param


@pytest.fixture
def reference_requests() -> list[tuple[str, str, bytes | None]]:
    """The whole reference table, for a test that walks it on one pair of servers."""
    return list(REQUESTS)


@pytest.fixture(
    params=BAD_INPUT, ids=[f"{status}-{n}" for n, (_, status) in enumerate(BAD_INPUT)]
)
def bad_input(request: pytest.FixtureRequest) -> tuple[bytes, int]:
    """Raw bytes a server must refuse, and the status it answers them with."""
    return request.param
