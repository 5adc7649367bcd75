"""What two parts' tests share: a clock the test moves by hand, and a client cookie jar.

`session_cookies` and `session_login` both expire sessions on a fake clock and both
read our Set-Cookie header back with http.cookiejar, the client side of the standard
library.
"""

from __future__ import annotations

import http.cookiejar
import urllib.request
from collections.abc import Callable
from email.message import Message

import pytest


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """A clock that stands still until a test moves `clock.now`."""
    return FakeClock()


def _jar_with(set_cookie: str, url: str) -> http.cookiejar.CookieJar:
    """Let http.cookiejar, a client-side parser, store a Set-Cookie header."""
    headers = Message()
    headers["Set-Cookie"] = set_cookie

    class Response:
        def info(self) -> Message:
            return headers

    jar = http.cookiejar.CookieJar()
    jar.extract_cookies(Response(), urllib.request.Request(url))
    return jar


@pytest.fixture
def jar_with() -> Callable[[str, str], http.cookiejar.CookieJar]:
    """`jar_with(set_cookie, url)`: a client cookie jar that stored the header."""
    return _jar_with
