"""The journey page's claims: a raw HTTP/1.1 request over a socket gets a 200."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys

import h11
import pytest

from snippets import journey
from tests.helpers import TIMEOUT
from tests.site.docs_tools import ROOT


@pytest.fixture
def server():
    server = journey.start_server()
    yield server
    server.shutdown()
    server.server_close()


def test_raw_get_gets_a_status_line_headers_and_body(server) -> None:
    host, port = server.server_address[:2]
    response = journey.raw_get(host, port)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 200 OK"
    assert b"Content-Length: 23" in head
    assert body == b"hello from the backend\n"


def test_h11_reads_the_raw_answer_as_a_valid_response(server) -> None:
    """Oracle: a real HTTP/1.1 parser reads the bytes we got as one 200 response."""
    host, port = server.server_address[:2]
    conn = h11.Connection(our_role=h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", host)]))
    conn.receive_data(journey.raw_get(host, port))
    response = conn.next_event()
    assert isinstance(response, h11.Response)
    assert response.status_code == 200
    data = conn.next_event()
    assert isinstance(data, h11.Data)
    assert data.data == b"hello from the backend\n"
    assert isinstance(conn.next_event(), h11.EndOfMessage)


def test_http_client_gets_the_same_answer(server) -> None:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/anything")
        answer = conn.getresponse()
        assert (answer.status, answer.read()) == (200, b"hello from the backend\n")
    finally:
        conn.close()


def test_server_close_releases_the_port() -> None:
    server = journey.start_server()
    host, port = server.server_address[:2]
    server.shutdown()
    server.server_close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, port), timeout=2).close()


def test_the_demo_prints_the_status_line_and_body() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "snippets.journey"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout == "HTTP/1.1 200 OK\nhello from the backend\n"
