"""Helpers that the application security test files share (fixtures are in conftest.py)."""

from __future__ import annotations

from html.parser import HTMLParser

from snippets.application.app_core import Response
from snippets.application.app_security.csrf import HTML, origin_of
from tests.helpers import Reply


class BeyondLoopbackError(ConnectionRefusedError):
    """Raised by the guard instead of connecting to an address that is not loopback."""


# The idle timeout of a server a browser test talks to. Chromium keeps its connections
# open, and a server that closes waits out the idle timeout of each (5 s by default),
# which was most of these tests' time; on loopback a page's requests arrive within
# milliseconds of each other, so 2 s leaves a wide margin.
BROWSER_IDLE = 2.0


def said(reply: Reply) -> str:
    """What an answer says: a problem document's detail, or the text of the body."""
    if reply.header("Content-Type") == "application/problem+json":
        return reply.json()["detail"]
    return reply.text


class Document(HTMLParser):
    """Everything a tokenizer reports: tags with attributes, and the text."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text = ""
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text += data


def page_with(html_text: str):
    return lambda request: Response(200, html_text.encode(), [HTML])


def elsewhere(server) -> str:
    """The same server under another site's name: localhost is not 127.0.0.1."""
    return origin_of(server).replace("127.0.0.1", "localhost")
