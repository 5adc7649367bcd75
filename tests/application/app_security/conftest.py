"""Fixtures that the application security test files share: the guard and a browser tab.

Every network test stays on loopback: the guard refuses any connect() to another address
before the operating system sees it, in every test of this directory. The browser tab
(for the tests marked `browser`) aborts every request Chromium makes outside loopback.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import pytest

from tests.application.app_security.security_helpers import BeyondLoopbackError


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuse (and record) every connect() to an address outside loopback."""
    attempts: list[str] = []
    real_connect = socket.socket.connect

    def guarded_connect(sock: socket.socket, address) -> None:
        host = address[0] if sock.family in (socket.AF_INET, socket.AF_INET6) else ""
        if host and not ipaddress.ip_address(host.partition("%")[0]).is_loopback:
            attempts.append(host)
            raise BeyondLoopbackError(f"test guard: no connection to {host}")
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return attempts


# A real browser as the oracle (Chromium from tests/site/browser.py; every request it
# makes outside loopback is aborted).


@pytest.fixture
def chromium(browser):
    """The session's Chromium (tests/conftest.py)."""
    return browser


@pytest.fixture
def tab(chromium):
    """A fresh browser context (no cookies) whose requests stay on loopback."""
    context = chromium.new_context()

    def loopback_only_route(route) -> None:
        host = urlsplit(route.request.url).hostname
        route.continue_() if host in {"127.0.0.1", "localhost"} else route.abort()

    context.route("**/*", loopback_only_route)
    yield context.new_page()
    context.close()
