"""`wsgi_apps`'s claims: on our server and on wsgiref, the same applications answer alike.

Oracles: `wsgiref.validate.validator` wraps the applications (it checks the app's side
and the server's side: the environ, start_response, the iterable and its close());
`wsgiref.simple_server` serves the same application, and `http.client` must get the
same status, headers and body from it and from ours, and the same environ.
"""

import http.client
import json
from collections.abc import Iterator
from typing import Any
from wsgiref.validate import validator

import pytest

from snippets.application.socket_to_handler.wsgi_apps import (
    WsgirefServer,
    fetch,
    hello_app,
)
from snippets.application.socket_to_handler.wsgi_server import WSGIServer
from tests.helpers import TIMEOUT, run_demo


@pytest.fixture(scope="module")
def validated_servers() -> Iterator[tuple[WSGIServer, WsgirefServer]]:
    app = validator(hello_app)
    with WSGIServer(app) as ours, WsgirefServer(app) as reference:
        yield ours, reference


def test_ours_and_wsgiref_answer_identically_to_http_client(
    validated_servers, request_case: tuple[str, str, bytes | None]
) -> None:
    ours, reference = validated_servers
    method, target, body = request_case
    mine = fetch(ours.address, method, target, body)
    assert mine == fetch(reference.address, method, target, body)
    assert mine[0] in (200, 404)  # a validator failure would have been a 500


def environ_dump(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    keys = ["REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING"]
    keys += ["SERVER_PROTOCOL", "HTTP_X_TRACE", "wsgi.url_scheme"]
    body = json.dumps({k: environ.get(k) for k in keys}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


@pytest.mark.parametrize(
    "target", ["/", "/caf%C3%A9/x", "/a%2Fb?x=%20y&z", "/%FF?%FF", "/p;param"]
)
def test_environ_matches_wsgirefs_for_the_same_request(target: str) -> None:
    """PEP 3333: PATH_INFO holds the decoded bytes as latin-1, QUERY_STRING stays raw."""
    app = validator(environ_dump)
    with WSGIServer(app) as ours, WsgirefServer(app) as reference:
        answers = []
        for server in (ours, reference):
            conn = http.client.HTTPConnection(*server.address, timeout=TIMEOUT)
            conn.request("GET", target, headers={"X-Trace": "t-1"})
            answers.append(json.loads(conn.getresponse().read()))
            conn.close()
    assert answers[0] == answers[1]


def test_the_demo_prints_what_the_page_shows() -> None:
    result = run_demo("snippets.application.socket_to_handler.wsgi_apps", check=True)
    assert result.stdout.splitlines()[:4] == [
        "200 b'hello, Ada\\n' True",
        "200 b'ping' True",
        "404 b'not found\\n' True",
        "200 False ['3', '2', '1', 'liftoff'] ['closed']",
    ]
    assert result.stderr == ""
